"""Texts of the hub's pages in Vietnamese and English (province/i18n/{vi,en}.yaml, read by
staff.i18n), chosen as the staff pages choose theirs (staff.app.lang_of): `?lang=vi|en` (remembered in the
`lang` cookie), then the cookie, then Vietnamese. A key missing in English falls back to
Vietnamese; tests/test_province_i18n.py checks both files have every key the hub uses."""

from __future__ import annotations

from pathlib import Path

from staff import i18n as _staff

LANGS = _staff.LANGS
_DIR = Path(__file__).resolve().parent / "i18n"


def texts(lang: str) -> dict[str, str]:
    """All texts of a language (the file is read once)."""
    return _staff.texts(lang, _DIR)


def t(lang: str, key: str, **kw) -> str:
    """The text `key` in `lang` (Vietnamese when missing there), formatted with `kw`."""
    return _staff.t(lang, key, _DIR, **kw)


def error_text(lang: str, exc: Exception) -> str:
    """An account error (centre.users.UserError: `code`, `params`) as `err_<code>` says it in
    `lang`; the error's own (English) message when there is no such text."""
    code = getattr(exc, "code", "")
    s = texts(lang if lang in LANGS else "vi").get(f"err_{code}") if code else None
    try:
        return s.format(**getattr(exc, "params", {})) if s else str(exc)
    except (KeyError, IndexError, ValueError):
        return str(exc)


def lang_of(request) -> str:
    """The page's language: ?lang=, then the 'lang' cookie, then Vietnamese."""
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "vi"
    return lang if lang in LANGS else "vi"

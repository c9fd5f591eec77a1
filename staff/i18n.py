"""Texts of the staff and display pages in Vietnamese and English (staff/i18n/{vi,en}.yaml)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LANGS = ("vi", "en")
_DIR = Path(__file__).resolve().parent / "i18n"


@cache
def texts(lang: str, folder: Path = _DIR) -> dict[str, str]:
    """All texts of a language (the file is read once); `folder`: another catalogue of the same
    form (the provincial hub's, province/i18n)."""
    with open(folder / f"{lang}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def t(lang: str, key: str, folder: Path = _DIR, **kw) -> str:
    """The text `key` in `lang` (Vietnamese when missing there), formatted with `kw`."""
    lang = lang if lang in LANGS else "vi"
    s = texts(lang, folder).get(key) or texts("vi", folder).get(key) or key
    return s.format(**kw) if kw else s


def error_text(lang: str, exc: Exception) -> str:
    """An error of the core (queue, users, admin) as the page's language says it: `err_<code>`
    (an error that carries `code` and `params`, e.g. users.UserError), else `err_<ClassName>`;
    the core's own (English) message when neither is written (or a template cannot be filled)."""
    lang = lang if lang in LANGS else "vi"
    params = getattr(exc, "params", None)
    code = getattr(exc, "code", "") if params is not None else ""  # (a queue error's `code` is a ticket's)
    keys = ((f"err_{code}",) if isinstance(code, str) and code else ()) + (f"err_{type(exc).__name__}",)
    for key in keys:
        s = texts(lang).get(key)
        if s:
            try:  # the error's params (UserError), else its attributes (CurrentNotStarted: code, counter_id)
                return s.format(**(params if params is not None else vars(exc)))
            except (KeyError, IndexError, ValueError):
                return str(exc)
    return str(exc)

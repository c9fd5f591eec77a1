"""Texts of the staff and display pages in Vietnamese and English (staff/i18n/{vi,en}.yaml)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LANGS = ("vi", "en")
_DIR = Path(__file__).resolve().parent / "i18n"


@cache
def texts(lang: str) -> dict[str, str]:
    """All texts of a language (the file is read once)."""
    with open(_DIR / f"{lang}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def t(lang: str, key: str, **kw) -> str:
    """The text `key` in `lang` (Vietnamese when missing there), formatted with `kw`."""
    lang = lang if lang in LANGS else "vi"
    s = texts(lang).get(key) or texts("vi").get(key) or key
    return s.format(**kw) if kw else s

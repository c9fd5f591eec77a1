"""Citizen-facing texts of the kiosk: kiosk/i18n/<lang>.yaml, nested keys joined with dots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("kiosk.texts")

I18N_DIR = Path(__file__).resolve().parent / "i18n"
LANGS = ("vi", "en")


class I18nError(KeyError):
    """A text key is missing from a language file."""


class I18n:
    """The texts of every language; `t(key, lang, **placeholders)`."""

    def __init__(self, directory: Path = I18N_DIR, langs: tuple[str, ...] = LANGS, strict: bool = False):
        self.strict = strict
        self.texts: dict[str, dict[str, str]] = {}
        for lang in langs:
            with open(directory / f"{lang}.yaml", encoding="utf-8") as fh:
                self.texts[lang] = dict(_flatten(yaml.safe_load(fh) or {}))

    def keys(self, lang: str = "vi") -> set[str]:
        return set(self.texts[lang])

    def t(self, key: str, lang: str = "vi", **kw: Any) -> str:
        table = self.texts.get(lang) or self.texts["vi"]
        try:
            text = table[key]
        except KeyError:
            if self.strict:
                raise I18nError(f"{lang}: no text for {key!r}") from None
            log.error("i18n: no %s text for %r", lang, key)
            text = self.texts["vi"].get(key, key)
        if kw:
            try:
                return text.format(**kw)
            except (KeyError, IndexError, ValueError):
                log.error("i18n: bad placeholders in %s %r", lang, key)
        return text


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, str(v)

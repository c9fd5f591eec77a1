"""Text normalisation shared by search, voice snapping and the catalogue.

Vietnamese needs more than NFD folding: đ/Đ are separate letters that Unicode does not
decompose, and tone marks must go while the base letters stay. `fold` gives the
lower-case, diacritic-free, punctuation-free form that both queries and indexed text
are reduced to; `tokens` splits it into words.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[\W_]+")
_SPECIAL = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})


def storable(text: str) -> bool:
    """False for text SQLite cannot take (a lone surrogate, e.g. from a JSON "\\ud800" escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ → d), keep only letters and digits, single spaces.

    Scripts without combining marks (Korean Hangul, used by the voice tests) survive:
    after stripping marks the text is recomposed with NFC.
    """
    if not text:
        return ""
    text = text.translate(_SPECIAL)
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFC", text).lower()
    return _NON_WORD.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    """The folded words of `text`."""
    folded = fold(text)
    return folded.split() if folded else []


def clean(text: str) -> str:
    """NFC-normalise, drop control characters and collapse white space (keeps diacritics)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch if (ch.isprintable() or ch in " \t\n") else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


#: Unicode categories a name shown to people may not hold: control characters (NUL, newline,
#: ESC), format characters (bidi overrides that reverse the text, zero-width spaces that make a
#: name look empty or like another), separators other than spaces, surrogates, private use, unassigned.
_UNSHOWABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def unshowable(text: str) -> str | None:
    """The first character of `text` that a name on a page, a display or a ticket may not hold
    (as 'U+202E'), or None when every character is a letter, mark, digit, punctuation, symbol or space."""
    for ch in text or "":
        if unicodedata.category(ch) in _UNSHOWABLE:
            return f"U+{ord(ch):04X}"
    return None


def escape_unshowable(text: str) -> str:
    """`text` with each character `unshowable` finds written as an escape ('\\u202e'), so a log or a
    page shows it instead of obeying it (reversing the line, hiding in a name)."""
    return "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _UNSHOWABLE else ch for ch in text or ""
    )

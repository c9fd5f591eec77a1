"""Telex input for the on-screen keyboard: raw key strokes → Vietnamese text (pure, no Kivy).

Telex is how most Vietnamese type on a Latin keyboard: ``aa`` → â, ``aw`` → ă, ``ee`` → ê,
``oo`` → ô, ``ow`` → ơ, ``uw``/``w`` → ư, ``dd`` → đ, and a final ``s f r x j`` puts the
sắc, huyền, hỏi, ngã, nặng tone on the right vowel (``z`` removes it). Typing a modifier
twice undoes it (``ass`` → "as"), so every word can still be typed.

`TelexBuffer` keeps the raw keys of each word and recomposes the word after every key, so
backspace removes the last key pressed (not a whole composed letter) and tone placement is
always recomputed from the finished vowel cluster. With ``telex=False`` keys are taken
literally: the search folds diacritics, so "lam giay khai sinh" finds the same procedures.
"""

from __future__ import annotations

import unicodedata

TONES = {"s": "\u0301", "f": "\u0300", "r": "\u0309", "x": "\u0303", "j": "\u0323"}
_CIRCUMFLEX = {"a": "â", "e": "ê", "o": "ô"}
_BREVE_HORN = {"a": "ă", "o": "ơ", "u": "ư"}
_PLAIN = {"â": "a", "ê": "e", "ô": "o", "ă": "a", "ơ": "o", "ư": "u", "đ": "d"}
VOWELS = set("aeiouyâêôăơư")
_MARKED = set("âêôăơư")


def _is_vowel(ch: str) -> bool:
    return ch.lower() in VOWELS


def _case(src: str, ch: str) -> str:
    return ch.upper() if src.isupper() else ch


def _vowel_span(letters: list[str]) -> tuple[int, int] | None:
    """Start and end (exclusive) of the word's vowel cluster, ignoring the u of qu and the i of gi."""
    low = [c.lower() for c in letters]
    start = None
    for i, c in enumerate(low):
        if c in VOWELS:
            if start is None:
                # "qu…" and "gi…" followed by another vowel: u / i belong to the consonant
                nxt = low[i + 1] if i + 1 < len(low) else ""
                if ((c == "u" and i > 0 and low[i - 1] == "q") or (c == "i" and i > 0 and low[i - 1] == "g")) and nxt in VOWELS:
                    continue
                start = i
        elif start is not None:
            return start, i
    return (start, len(low)) if start is not None else None


def _tone_index(letters: list[str]) -> int | None:
    """Which letter carries the tone (classic placement: hòa, thủy, người, khuyên)."""
    span = _vowel_span(letters)
    if span is None:
        return None
    a, b = span
    low = [c.lower() for c in letters]
    cluster = low[a:b]
    marked = [i for i in range(a, b) if low[i] in _MARKED]
    if marked:
        # ươ: the tone goes on ơ
        return marked[-1]
    if len(cluster) == 1:
        return a
    ends_with_consonant = b < len(low)
    if len(cluster) >= 3:
        return a + 1
    return a + 1 if ends_with_consonant else a


def _tone_key(k: str, key: str, letters: list[str], tone: str | None) -> tuple[bool, str | None]:
    """A tone key (s f r x j) or z: (handled?, the tone now)."""
    if k in TONES and letters and _vowel_span(letters) is not None:
        if tone == k:
            letters.append(key)  # typed twice: undo, keep the letter
            return True, None
        return True, k
    if k == "z" and tone is not None:
        return True, None
    return False, tone


def _d_key(k: str, key: str, letters: list[str]) -> bool:
    """dd → đ at the start of a word; ddd → dd."""
    if k != "d" or len(letters) != 1:
        return False
    if letters[-1].lower() == "d":
        letters[-1] = _case(letters[-1], "đ")
        return True
    if letters[-1].lower() == "đ":
        letters[-1] = _case(letters[-1], "d")
        letters.append(key)
        return True
    return False


def _circumflex_key(k: str, key: str, letters: list[str]) -> bool:
    """aa → â, ee → ê, oo → ô (typed again: undone, the letter kept)."""
    span = _vowel_span(letters)
    if k not in _CIRCUMFLEX or span is None:
        return False
    a, b = span
    idx = next((i for i in range(b - 1, a - 1, -1) if _PLAIN.get(letters[i].lower(), letters[i].lower()) == k), None)
    if idx is None:
        return False
    if letters[idx].lower() == _CIRCUMFLEX[k]:
        letters[idx] = _case(letters[idx], k)
        letters.append(key)
    else:
        letters[idx] = _case(letters[idx], _CIRCUMFLEX[k])
    return True


def _w_in_vowels(key: str, letters: list[str], span: tuple[int, int]) -> None:
    """w after a vowel: uo → ươ, a → ă, o → ơ, u → ư; typed again: undone and a literal w."""
    low = [c.lower() for c in letters]
    a, b = span
    cl = "".join(low[a:b])
    pair = next((p for p in ("uo", "ưo", "uơ") if p in cl), None)
    if pair:
        i = a + cl.index(pair)
        letters[i] = _case(letters[i], "ư")
        letters[i + 1] = _case(letters[i + 1], "ơ")
        return
    if any(ch in cl for ch in ("ư", "ơ", "ă")):
        for i in range(a, b):
            if low[i] in ("ư", "ơ", "ă"):
                letters[i] = _case(letters[i], _PLAIN[low[i]])
        letters.append(key)
        return
    for i in range(b - 1, a - 1, -1):
        if low[i] in _BREVE_HORN:
            letters[i] = _case(letters[i], _BREVE_HORN[low[i]])
            return
    letters.append(key)


def _w_key(k: str, key: str, letters: list[str]) -> bool:
    if k != "w":
        return False
    span = _vowel_span(letters)
    if span is not None:
        _w_in_vowels(key, letters, span)
        return True
    if not letters or not any(_is_vowel(c) for c in letters):
        letters.append(_case(key, "ư"))
        return True
    return False


def compose(raw: str) -> str:
    """The Vietnamese word typed by the Telex key strokes `raw` (one word, no spaces)."""
    letters: list[str] = []
    tone: str | None = None
    for key in raw:
        k = key.lower()
        handled, tone = _tone_key(k, key, letters, tone)
        if not (handled or _d_key(k, key, letters) or _circumflex_key(k, key, letters) or _w_key(k, key, letters)):
            letters.append(key)
    if tone is not None:
        idx = _tone_index(letters)
        if idx is not None:
            letters[idx] = unicodedata.normalize("NFC", letters[idx] + TONES[tone])
    return unicodedata.normalize("NFC", "".join(letters))


class TelexBuffer:
    """The text being typed on the on-screen keyboard, as raw key strokes per word."""

    def __init__(self, telex: bool = True):
        self._telex = telex
        # each word: [keys, literal]; literal words are shown as typed (plain mode, pasted text)
        self._words: list[list] = []
        self._space_after = False

    @property
    def telex(self) -> bool:
        return self._telex

    @telex.setter
    def telex(self, on: bool) -> None:
        # freeze what is on screen, so switching mode never changes typed words
        self._words = [[self._show(w), True] for w in self._words]
        self._telex = on

    def _show(self, word: list) -> str:
        keys, literal = word
        return keys if literal else compose(keys)

    @property
    def text(self) -> str:
        out = " ".join(self._show(w) for w in self._words)
        return out + " " if self._space_after and out else out

    def key(self, ch: str) -> str:
        """Type one character (a letter, digit or space); return the new text."""
        if ch == " ":
            if self._words:
                self._space_after = True
            return self.text
        if self._space_after or not self._words:
            self._words.append(["", not self._telex])
            self._space_after = False
        self._words[-1][0] += ch
        return self.text

    def backspace(self) -> str:
        """Remove the last key pressed (a space, or one key of the last word)."""
        if self._space_after:
            self._space_after = False
        elif self._words:
            keys = self._words[-1][0][:-1]
            self._words[-1][0] = keys
            if not keys:
                self._words.pop()
                self._space_after = bool(self._words)
        return self.text

    def clear(self) -> str:
        self._words = []
        self._space_after = False
        return self.text

    def snapshot(self) -> tuple:
        """The buffer's state, for `restore` (the tap audit types on a visitor's keyboard)."""
        return [list(w) for w in self._words], self._space_after, self._telex

    def restore(self, snap: tuple) -> None:
        words, space_after, telex = snap
        self._words, self._space_after, self._telex = [list(w) for w in words], space_after, telex

    def set_text(self, text: str) -> str:
        """Replace the buffer by finished text (a suggestion, a voice result), kept as written."""
        self._words = [[w, True] for w in text.split()]
        self._space_after = False
        return self.text

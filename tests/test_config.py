"""config.yaml: the shipped file is valid; each kind of mistake names the key, line and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from centre.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "config.yaml").read_text(encoding="utf-8")


def line_of(needle: str) -> int:
    return next(i for i, line in enumerate(TEXT.splitlines(), 1) if needle in line)


def test_shipped_config_is_valid(project_config):
    assert project_config.centre.name.vi.startswith("Trung tâm")
    assert project_config.centre.languages[0] == "vi"
    assert {s.series for s in project_config.services} >= {"A", "B"}
    assert project_config.database_path.is_absolute()


@pytest.mark.parametrize(
    "old,new,key,needle,words",
    [
        ('series: "B"', 'series: "bb"', "services[1].series", 'series: "B"', "not written as expected"),
        ('orientation: "landscape"', 'orientation: "sideways"', "kiosk.orientation", "orientation:", "'landscape' or 'portrait'"),
        ('services: ["B"]', 'services: ["Z"]', "counters[2].services", 'services: ["B"]', "'Z' is not defined"),
        ("idle_timeout_s: 90", "idle_timout_s: 90", "kiosk.idle_timout_s", "idle_timeout_s", "unknown key"),
        ('timezone: "Asia/Ho_Chi_Minh"', "timezone: Mars/Base", "centre.timezone", "timezone:", "unknown time zone"),
        ("  sun: []", '  sun: ["17:00-08:00"]', "opening_hours.sun", "  sun:", "ends before it starts"),
        ("port: 8080", "port: 99999", "staff.port", "port: 8080", "too large: at most 65535"),
    ],
)
def test_bad_value_names_key_line_and_rule(old, new, key, needle, words):
    assert old in TEXT
    with pytest.raises(ConfigError) as exc:
        parse_config(TEXT.replace(old, new, 1), source=Path("config.yaml"))
    msg = str(exc.value)
    assert f"config.yaml: {key} (line {line_of(needle)})" in msg
    assert words in msg


def test_broken_yaml_names_line():
    with pytest.raises(ConfigError, match=r"line \d+: not valid YAML"):
        parse_config(TEXT + "\nbad: [\n", source=Path("config.yaml"))


def test_duplicate_key_is_an_error():
    with pytest.raises(ConfigError, match="key 'kiosk' appears twice"):
        parse_config(TEXT + "\nkiosk: {}\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_cli_config_check_reports_error(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text(TEXT.replace('series: "B"', 'series: "bb"'), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(bad), "config", "check"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "services[1].series (line" in out.stderr
    ok = subprocess.run([sys.executable, "-m", "kiosk", "config", "check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr

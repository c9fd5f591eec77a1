"""Hardening left by round 11's attack on the centre (rule 4: bad input gets a clear error and
loses nothing): a config.yaml holding a control character is a config error naming its line,
not a traceback."""

from __future__ import annotations

import pytest
from conftest import ROOT

from centre.config import ConfigError, load_config
from kiosk import cli

# -- 1. config.yaml with a control character ----------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\ufffe"])
def test_a_control_character_in_config_yaml_names_its_line_not_a_traceback(char, tmp_path, capsys):
    """PyYAML's reader refuses these characters when the loader is made, which was outside the
    try that turns YAML errors into config errors: `kiosk config check` printed a traceback."""
    lines = (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("timezone:"))
    lines[at] = lines[at].replace("Asia/Ho_Chi_Minh", f"Asia/Ho{char}Chi_Minh")
    path = tmp_path / "config.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"line {at + 1}:" in str(info.value) and f"#x{ord(char):04x}" in str(info.value), str(info.value)
    rc = cli.main(["--config", str(path), "config", "check"])
    err = capsys.readouterr().err
    assert rc == 2 and f"line {at + 1}:" in err and "Traceback" not in err, err


# -- 2. config.yaml numbers that are not finite -------------------------------------------------


def _config_with(tmp_path, old: str, new: str):
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, text[: text.index(old)].count("\n") + 1


@pytest.mark.parametrize("old, new, key", [
    ("target_wait_min: 15\n", "target_wait_min: .inf\n", "services[0].target_wait_min"),
    ("x: 2.0,", "x: .nan,", "floor_map.waypoints.dock.x"),
    ("login_lockout_s: 300", "login_lockout_s: .inf", "staff.login_lockout_s"),
    ("pin_lockout_s: 300", "pin_lockout_s: -.inf", "kiosk.pin_lockout_s"),
    ("height_m: 14.0", "height_m: .Inf", "floor_map.height_m"),
])
def test_infinite_or_nan_numbers_in_config_yaml_are_refused_with_key_and_line(old, new, key, tmp_path):
    """YAML writes .inf and .nan as numbers: a target wait of .inf passed `gt=0`, a waypoint at .nan
    has no range at all, and the staff server then answered /api/services, /api/admin/map and the
    reports with a 500 (JSON has no such numbers)."""
    path, line = _config_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{key} (line {line}): " in str(info.value) and "not a finite number" in str(info.value), str(info.value)

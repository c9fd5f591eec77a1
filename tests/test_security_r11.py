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

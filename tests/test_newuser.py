"""What a centre's administrator meets on a first install (README, docs/deployment.md):
config mistakes name key, line and the fix; backup and restore; plain hints where a
command used to print only an OS error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from centre.config import ConfigError, parse_config
from kiosk.cli import Context, main

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "config.yaml").read_text(encoding="utf-8")


def _error(old: str, new: str) -> str:
    assert old in SHIPPED, old
    with pytest.raises(ConfigError) as info:
        parse_config(SHIPPED.replace(old, new, 1), source=Path("config.yaml"))
    return str(info.value)


def _line_of(text: str) -> int:
    return SHIPPED.splitlines().index(text) + 1


@pytest.mark.parametrize("old, new, hint", [
    ("  port: 8080", "\tport: 8080", "spaces, not tabs"),
    ('    services: ["A"]', '      services: ["A"]', "indentation"),
    ('  sat: ["07:30-11:30"]', '  sat: ["07:30-11:30"', "closing ']'"),
])
def test_a_yaml_slip_names_its_line_and_says_how_to_fix_it(old, new, hint):
    msg = _error(old, new)
    assert f"line {_line_of(old)}" in msg or f"line {_line_of(old) + 1}" in msg, msg
    assert hint in msg, msg


def test_an_unquoted_colon_in_a_name_asks_for_quotes():
    old = '    vi: "Phường Mông Dương, tỉnh Quảng Ninh"'
    msg = _error(old, "    vi: Phường: Mông Dương")
    assert f"line {_line_of(old)}" in msg and "in quotes" in msg, msg


def test_a_counter_id_used_twice_names_its_key_and_line():
    msg = _error("  - id: 4", "  - id: 3")
    assert f"counters[3].id (line {_line_of('  - id: 4')})" in msg, msg
    assert "(top level)" not in msg and "counters[2]" in msg


def test_a_series_letter_used_twice_names_its_key_and_line():
    old = '  - series: "C"'
    msg = _error(old, '  - series: "A"')
    assert f"services[2].series (line {_line_of(old)})" in msg, msg


def _centre(tmp_path: Path, extra: str = "") -> Path:
    text = SHIPPED.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    text = text.replace('token_file: "var/province.token"', f'token_file: "{tmp_path}/var/province.token"')
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text + extra, encoding="utf-8")
    (tmp_path / "var").mkdir(exist_ok=True)
    return cfg


def _kiosk(capsys, cfg: Path, *args: str) -> tuple[int, str, str]:
    rc = main(["--config", str(cfg), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_backup_then_restore_brings_the_day_back(tmp_path, capsys):
    cfg = _centre(tmp_path)
    assert _kiosk(capsys, cfg, "ticket", "issue", "A", "--ignore-hours")[0] == 0
    rc, out, err = _kiosk(capsys, cfg, "backup", str(tmp_path / "monday.db"))
    assert rc == 0 and "checked" in out, err
    assert _kiosk(capsys, cfg, "ticket", "issue", "B", "--ignore-hours")[0] == 0
    assert "B001" in _kiosk(capsys, cfg, "ticket", "list")[1]
    rc, out, err = _kiosk(capsys, cfg, "restore", "--yes", str(tmp_path / "monday.db"))
    assert rc == 0 and "before-restore" in out, err
    tickets = _kiosk(capsys, cfg, "ticket", "list")[1]
    assert "A001" in tickets and "B001" not in tickets
    kept = list((tmp_path / "var" / "backups").glob("before-restore-*.db"))
    assert len(kept) == 1   # the replaced database, with B001, is kept


def test_backup_default_place_and_refusals(tmp_path, capsys):
    cfg = _centre(tmp_path)
    rc, _, err = _kiosk(capsys, cfg, "backup")
    assert rc == 2 and "no database yet" in err
    _kiosk(capsys, cfg, "ticket", "issue", "A", "--ignore-hours")
    assert _kiosk(capsys, cfg, "backup")[0] == 0
    assert len(list((tmp_path / "var" / "backups").glob("centre-*.db"))) == 1
    (tmp_path / "junk.db").write_text("not a database", encoding="utf-8")
    rc, _, err = _kiosk(capsys, cfg, "restore", "--yes", str(tmp_path / "junk.db"))
    assert rc == 2 and "not a database" in err and "nothing changed" in err
    rc, _, err = _kiosk(capsys, cfg, "restore", str(next((tmp_path / "var" / "backups").glob("*.db"))))
    assert rc == 2 and "--yes" in err   # no terminal under pytest: never restores unasked


def test_sync_without_the_token_file_says_where_it_comes_from(tmp_path, capsys):
    cfg = _centre(tmp_path)
    text = cfg.read_text(encoding="utf-8")
    text = text.replace("  url: null                    # e.g.", '  url: "http://127.0.0.1:9"  # e.g.')
    text = text.replace("  centre_id: null ", '  centre_id: "cam-pha" ')
    cfg.write_text(text, encoding="utf-8")
    rc, _, err = _kiosk(capsys, cfg, "sync", "--once")
    assert rc == 2 and "province add-centre cam-pha --token-file" in err, err


def test_an_officer_at_an_unknown_counter_is_told_the_counters(tmp_path, capsys, monkeypatch):
    import io

    cfg = _centre(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("good-officer-pass\n"))
    rc, _, err = _kiosk(capsys, cfg, "users", "add", "lan", "--role", "officer", "--counter", "9",
                        "--password-stdin")
    assert rc == 2 and "counter 9 does not exist (counters: 1, 2, 3, 4)" in err, err


def test_doctor_tells_a_centre_without_a_robot_how_to_turn_it_off(tmp_path):
    from kiosk.commands import robot

    cfg = _centre(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('port: "sim"', 'port: "/dev/ttyNOROBOT0"'),
                   encoding="utf-8")
    checks = [c for c in robot.doctor(Context(str(cfg))) if c.part == "robot"]
    assert checks and not checks[0].ok and "robot.enabled: false" in checks[0].message


def test_every_job_in_the_readme_table_is_a_command():
    from kiosk.cli import build_parser

    names = set(build_parser()._subparsers._group_actions[0].choices)
    table = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| `kiosk ")]
    assert table
    for line in table:
        for cmd in line.split("|")[1].split("`")[1::2]:
            if cmd.startswith("kiosk "):
                assert cmd.split()[1] in names, cmd


@pytest.mark.slow
def test_config_check_in_a_process_names_key_line_and_fix(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(SHIPPED.replace("  port: 8080", "\tport: 8080", 1), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(cfg), "config", "check"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2
    assert f"line {_line_of('  port: 8080')}" in r.stderr and "spaces, not tabs" in r.stderr, r.stderr


@pytest.mark.parametrize("argv, listed", [([], ["backup", "doctor", "users"]), (["users"], ["add", "passwd"])])
def test_a_missing_command_or_action_lists_them(argv, listed, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert all(f"    {name} " in err for name in listed), err
    assert "listed above" in err


@pytest.mark.parametrize("old, new, words", [
    ("  port: 8080", "  port: eighty", "'eighty' is not a whole number"),
    ("  idle_timeout_s: 90", "  idle_timeout_s: 90s", "'90s' is not a number"),
    ("languages: [vi, en]", "languages: vi", "'vi' should be a list, written like [a, b]"),
    ("  enabled: true\n  robots:", "  enabled: maybe\n  robots:", "'maybe' is not true or false"),
    ('    name: {vi: "Quầy 1", en: "Counter 1"}', '    name: {vi: "Quầy 1"}', "counters[0].name.en (line"),
    ('  mon: ["07:30-11:30", "13:30-17:00"]', '  mon: ["07:30-11:30", "11:00-17:00"]', "overlap"),
    ("  port: 8080", "  port: 99999", "99999 is too large: at most 65535"),
    ("  min_score: 0.46", "  min_score: 46", "46 is too large: at most 1"),
    ("languages: [vi, en]", "languages: []", "needs at least 1 item"),
])
def test_a_wrong_value_is_told_in_plain_words_with_its_key(old, new, words):
    msg = _error(old, new)
    assert words in msg and "Input should be" not in msg and "(line " in msg, msg


def test_a_field_given_to_two_services_names_the_second():
    old = '    fields: []                         # empty: receives every field no other service takes'
    msg = _error(old, '    fields: ["chung-thuc"]')
    assert f"services[3].fields[0] (line {_line_of(old)})" in msg and "already goes to service A" in msg, msg


def test_a_second_kiosk_does_not_issue_tickets_into_its_own_orphan_database(tmp_path, capsys):
    cfg = _centre(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("  url: null", '  url: "http://127.0.0.1:9"', 1)
                   .replace("  token: null", '  token: "kt_x"', 1), encoding="utf-8")
    rc, out, err = _kiosk(capsys, cfg, "ticket", "issue", "A", "--ignore-hours")
    assert rc == 2 and "centre.url" in err and "A001" not in out, err


def test_doctor_messages_start_in_one_column(tmp_path, capsys):
    import json

    cfg = _centre(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("voice:\n  enabled: true", "voice:\n  enabled: false", 1),
                   encoding="utf-8")
    checks = [json.loads(line) for line in _kiosk(capsys, cfg, "doctor", "--json")[1].splitlines()]
    text = _kiosk(capsys, cfg, "doctor")[1].splitlines()
    assert max(len(c["part"]) for c in checks) > 12   # 'opening hours': longer than the old column
    starts = {line.index(c["message"]) for c, line in zip(checks, text, strict=True)}
    assert len(starts) == 1, text


def _ward(tmp_path: Path, url: str) -> Path:
    cfg = _centre(tmp_path)
    text = cfg.read_text(encoding="utf-8")
    text = text.replace("  url: null                    # e.g.", f'  url: "{url}"  # e.g.')
    cfg.write_text(text.replace("  centre_id: null ", '  centre_id: "cam-pha" '), encoding="utf-8")
    (tmp_path / "var" / "province.token").write_text("t" * 43, encoding="utf-8")
    return cfg


def test_sync_once_with_the_hub_down_stops_and_says_what_to_check(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # closed again: nothing listens there
    cfg = _ward(tmp_path, f"http://127.0.0.1:{port}")
    _kiosk(capsys, cfg, "ticket", "issue", "A", "--ignore-hours")
    rc, out, err = _kiosk(capsys, cfg, "sync", "--once")   # used to retry for ever
    assert rc == 1 and "not reachable" in err and "province.url" in err, err


def test_sync_once_with_an_unknown_token_says_to_ask_for_a_new_one(tmp_path, capsys):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Hub(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'{"detail":"unknown token"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    hub = HTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        cfg = _ward(tmp_path, f"http://127.0.0.1:{hub.server_port}")
        _kiosk(capsys, cfg, "ticket", "issue", "A", "--ignore-hours")
        rc, _, err = _kiosk(capsys, cfg, "sync", "--once")
        assert rc == 1 and "401" in err and "add-centre" in err, err
        rc, out, _ = _kiosk(capsys, cfg, "sync", "--status")
        assert "last error hub answered 401" in out and "resolved" not in out, out
    finally:
        hub.shutdown()
        hub.server_close()


def test_doctor_reports_an_old_backup(tmp_path, capsys):
    import os
    import time

    from kiosk.commands import backup

    cfg = _centre(tmp_path)
    (check,) = backup.doctor(Context(str(cfg)))
    assert check.ok and "schedule `kiosk backup`" in check.message
    _kiosk(capsys, cfg, "ticket", "issue", "A", "--ignore-hours")
    _kiosk(capsys, cfg, "backup")
    (check,) = backup.doctor(Context(str(cfg)))
    assert check.ok and "newest centre-" in check.message
    (copy,) = (tmp_path / "var" / "backups").glob("centre-*.db")
    old = time.time() - 5 * 86400
    os.utime(copy, (old, old))
    (check,) = backup.doctor(Context(str(cfg)))
    assert not check.ok and "5 days old" in check.message


def test_backup_keep_deletes_all_but_the_newest(tmp_path, capsys):
    import os

    cfg = _centre(tmp_path)
    _kiosk(capsys, cfg, "ticket", "issue", "A", "--ignore-hours")
    folder = tmp_path / "var" / "backups"
    for i, name in enumerate(["centre-old1.db", "centre-old2.db", "centre-old3.db"]):
        assert _kiosk(capsys, cfg, "backup", str(folder / name))[0] == 0
        os.utime(folder / name, (1_700_000_000 + i, 1_700_000_000 + i))
    (folder / "before-restore-x.db").write_bytes(b"")   # not a daily copy: never pruned
    rc, out, err = _kiosk(capsys, cfg, "backup", "--keep", "2")
    assert rc == 0, err
    left = sorted(p.name for p in folder.iterdir())
    assert "centre-old1.db" not in left and "centre-old2.db" not in left and "centre-old3.db" in left
    assert "before-restore-x.db" in left and len([n for n in left if n.startswith("centre-")]) == 2


@pytest.mark.parametrize("path", [["users", "add"], ["users", "passwd"], ["dossier", "import"], ["ticket", "list"],
                                  ["ticket", "counter-state"], ["voice", "say"], ["backup"], ["restore"], ["sync"]])
def test_every_option_of_a_ward_administrators_command_is_explained(path):
    import argparse

    from kiosk.cli import build_parser

    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    bare = [a.dest for a in parser._actions if not a.help and a.dest != "help"]
    assert not bare, f"kiosk {' '.join(path)}: no help for {bare}"

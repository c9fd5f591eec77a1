"""The `kiosk` command's error boundary: a database that cannot be opened or written is one
plain line and exit status 2, never a Python traceback (QA: every command printed one)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kiosk import cli

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path, database: Path) -> Path:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{database}"')
    text = text.replace('"data/', f'"{ROOT}/data/').replace('"assets/', f'"{ROOT}/assets/')
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("argv", [["ticket", "list"], ["users", "list"], ["catalogue", "stats"],
                                  ["report"], ["dossier", "due"], ["search", "khai sinh"]])
def test_database_that_cannot_be_opened_is_one_line(tmp_path, capsys, argv):
    db = tmp_path / "a-folder-not-a-file"
    db.mkdir()
    code = cli.main(["--config", str(_config(tmp_path, db)), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: cannot open database {db}:")
    assert "Traceback" not in err and err.count("\n") == 1


def test_sqlite_error_inside_a_command_is_one_line(tmp_path, capsys, monkeypatch):
    def fails(args, ctx):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(cli, "build_parser", _parser_with(fails))
    code = cli.main(["--config", str(_config(tmp_path, tmp_path / "c.db")), "boom"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"error: database {tmp_path / 'c.db'}: attempt to write a readonly database\n"


def _parser_with(fn):
    def build():
        import argparse

        parser = argparse.ArgumentParser(prog="kiosk")
        parser.add_argument("--config")
        parser.add_argument("--verbose", action="store_true")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("boom").set_defaults(func=fn)
        return parser
    return build


@pytest.mark.parametrize("stdin, message", [
    ("", "error: no terminal to ask the PIN on; use --stdin; nothing changed\n"),
    (None, "error: the staff PIN must be digits 0-9 only (the kiosk's PIN pad has no others); nothing changed\n"),
])
def test_set_pin_without_terminal_or_with_foreign_digits_changes_nothing(tmp_path, capsys, monkeypatch, stdin,
                                                                        message):
    """QA: `kiosk staff set-pin` with no terminal gave an EOFError traceback; '٣٤٥٦' (Arabic-Indic
    digits, str.isdigit() is true) was accepted, locking staff out of the kiosk's PIN pad."""
    import io

    cfg = _config(tmp_path, tmp_path / "c.db")
    before = cfg.read_text(encoding="utf-8")
    args = ["--config", str(cfg), "staff", "set-pin"]
    if stdin is None:
        monkeypatch.setattr("sys.stdin", io.StringIO("٣٤٥٦\n"))
        args.append("--stdin")
    else:
        monkeypatch.setattr("getpass.getpass", lambda prompt="": (_ for _ in ()).throw(EOFError()))
    assert cli.main(args) == 2
    assert capsys.readouterr().err == message
    assert cfg.read_text(encoding="utf-8") == before


def test_dossier_import_errors_name_the_file_once(tmp_path, capsys):
    """QA: `kiosk dossier import /x.csv` said "error: /x.csv: /x.csv: file not found"."""
    cfg = _config(tmp_path, tmp_path / "c.db")
    missing = tmp_path / "export.csv"
    assert cli.main(["--config", str(cfg), "dossier", "import", str(missing)]) == 2
    assert capsys.readouterr().err == f"error: {missing}: file not found\n"
    assert cli.main(["--config", str(cfg), "dossier", "import", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}: ") and err.count(str(tmp_path)) <= 2 and "Traceback" not in err


def test_serve_on_a_taken_or_impossible_port_is_one_line(tmp_path, capsys):
    """QA: `kiosk serve` on a port in use announced "staff server on ..." and exited with status 3;
    --port 99999 gave an OverflowError traceback."""
    import socket

    cfg = _config(tmp_path, tmp_path / "c.db")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["--config", str(cfg), "serve", "--host", "127.0.0.1", "--port", str(port)]) == 2
        captured = capsys.readouterr()
        assert "staff server on" not in captured.out
        assert captured.err.endswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
                                     "(another staff server or program uses it: stop it, or use --port)\n")
    assert cli.main(["--config", str(cfg), "serve", "--port", "99999"]) == 2
    assert capsys.readouterr().err.endswith("error: port 99999 is not a TCP port (1-65535)\n")


def test_remote_kiosk_account_with_token_needs_no_password(tmp_path, capsys, monkeypatch):
    """QA: `kiosk users add kiosk-2 --role kiosk --token` (as docs/staff.md shows) asked for a
    password the kiosk never uses, and failed in a script ("no terminal to ask the password on")."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    cfg = _config(tmp_path, tmp_path / "c.db")
    assert cli.main(["--config", str(cfg), "users", "add", "kiosk-2", "--role", "kiosk", "--token"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "added kiosk kiosk-2" and out[1].startswith("kt_")
    # other roles still need a password
    assert cli.main(["--config", str(cfg), "users", "add", "lan", "--role", "officer", "--counter", "1"]) == 2
    assert "password" in capsys.readouterr().err

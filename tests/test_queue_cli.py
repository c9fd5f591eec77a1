"""`kiosk ticket ...` commands (issue 4): a thin layer; errors are one plain line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from kiosk.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kiosk(tmp_path, capsys):
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text, encoding="utf-8")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["-c", str(cfg), *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def jrun(kiosk, *args):
    code, out, err = kiosk(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_issue_call_serve_cycle(kiosk):
    a = jrun(kiosk, "ticket", "issue", "--service", "A", "--ignore-hours")
    b = jrun(kiosk, "ticket", "issue", "-s", "a", "--ignore-hours", "--priority", "elderly", "--lang", "en")
    assert (a["code"], b["code"], b["lang"], b["priority"]) == ("A001", "A002", "en", "elderly")
    assert a["ahead"] == 0 and b["ahead"] == 0 and a["status_path"] == f"/t/{a['token']}"
    called = jrun(kiosk, "ticket", "call", "--counter", "1", "--actor", "officer:lan")
    assert called["code"] == "A002" and called["state"] == "called"  # priority first
    assert jrun(kiosk, "ticket", "recall", "A002")["recalls"] == 1
    assert jrun(kiosk, "ticket", "start", "A002")["state"] == "serving"
    assert jrun(kiosk, "ticket", "serve", str(called["id"]))["state"] == "served"
    assert jrun(kiosk, "ticket", "call", "-k", "2")["code"] == "A001"
    assert jrun(kiosk, "ticket", "no-show", a["token"])["state"] == "no_show"
    assert jrun(kiosk, "ticket", "call", "-k", "1") is None
    states = {t["code"]: t["state"] for t in jrun(kiosk, "ticket", "list")}
    assert states == {"A001": "no_show", "A002": "served"}
    code, out, _ = kiosk("ticket", "list", "--state", "waiting")
    assert code == 0 and "no tickets" in out


def test_transfer_cancel_status_counters(kiosk):
    jrun(kiosk, "ticket", "issue", "-s", "A", "--ignore-hours")
    t = jrun(kiosk, "ticket", "transfer", "A001", "--service", "B")
    assert t["service"] == "B" and t["transfers"] == 1
    st = jrun(kiosk, "ticket", "status", "A001")
    assert st["ahead"] == 0 and [c["id"] for c in st["counters"]] == [3]
    assert jrun(kiosk, "ticket", "transfer", "A001", "--counter", "4")["target_counter"] == 4
    assert jrun(kiosk, "ticket", "cancel", "A001")["state"] == "cancelled"
    c = jrun(kiosk, "ticket", "counter-state", "2", "paused")
    assert c["state"] == "paused"
    assert {x["id"]: x["state"] for x in jrun(kiosk, "ticket", "counters")}[2] == "paused"
    code, out, _ = kiosk("ticket", "counters")
    assert code == 0 and "Quầy 2" in out and "paused" in out


def test_render_and_print(kiosk, tmp_path):
    jrun(kiosk, "ticket", "issue", "-s", "C", "--ignore-hours")
    out_png = tmp_path / "out" / "t.png"
    code, out, err = kiosk("ticket", "render", "C001", "--out", str(out_png))
    assert code == 0, err
    img = Image.open(out_png)
    assert img.format == "PNG" and img.width == 576
    result = jrun(kiosk, "ticket", "print", "C001")
    assert result["ok"] and result["printer"] == "dummy"
    issued = jrun(kiosk, "ticket", "issue", "-s", "D", "--ignore-hours", "--print")
    assert issued["printed"]["ok"]


@pytest.mark.parametrize(
    "args,words",
    [
        (["ticket", "issue", "-s", "Z", "--ignore-hours"], "there is no service 'Z'"),
        (["ticket", "issue", "-s", "A", "--ignore-hours", "--priority", "vip"], "no priority group 'vip'"),
        (["ticket", "issue"], "say which service"),
        (["ticket", "call", "-k", "9"], "there is no counter 9"),
        (["ticket", "serve", "A777"], "there is no ticket 'A777'"),
        (["ticket", "transfer", "A001"], "say where to"),
        (["ticket", "issue", "-s", "A", "--ignore-hours", "--procedure", "9.999999"], "catalogue"),
    ],
)
def test_errors_are_one_plain_line(kiosk, args, words):
    code, out, err = kiosk(*args)
    assert code == 2 and words in err and err.startswith("error: ") and err.count("\n") == 1


def test_impossible_transition_exit_2(kiosk):
    jrun(kiosk, "ticket", "issue", "-s", "A", "--ignore-hours")
    code, _, err = kiosk("ticket", "serve", "A001")
    assert code == 2 and "A001 is waiting" in err


def test_doctor_lists_queue_font_printer(kiosk):
    code, out, _ = kiosk("doctor", "--json")
    parts = {d["part"]: d for d in map(json.loads, out.splitlines())}
    assert parts["queue"]["ok"] and parts["ticket font"]["ok"]
    assert parts["printer"]["ok"] and "dummy" in parts["printer"]["message"]


def test_doctor_says_a_loopback_base_url_makes_the_ticket_qr_useless_on_phones(kiosk):
    """QA: the shipped base_url http://127.0.0.1:8080 is printed in every ticket QR; doctor was silent."""
    from kiosk.commands.ticket import _qr_address_check

    _, out, _ = kiosk("doctor", "--json")
    qr = {d["part"]: d for d in map(json.loads, out.splitlines())}["ticket QR"]
    assert not qr["ok"] and "citizens' phones cannot open" in qr["message"]
    assert not _qr_address_check("http://localhost:8080").ok
    assert _qr_address_check("http://192.168.1.10:8080").ok


def test_doctor_of_a_remote_kiosk_checks_the_centre_server(tmp_path, capsys):
    """QA: with centre.url set, doctor reported the (unused) local queue as fine and never tried the server."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace("  url: null", f'  url: "http://127.0.0.1:{port}"').replace("  token: null", '  token: "kt_x"')
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text, encoding="utf-8")
    main(["-c", str(cfg), "doctor", "--json"])
    parts = {d["part"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    queue = parts["queue"]
    assert parts["staff users"]["ok"] and "centre's server" in parts["staff users"]["message"]  # not local
    assert not queue["ok"]
    assert queue["message"].startswith(f"cannot reach the centre server http://127.0.0.1:{port}")


def test_doctor_says_when_administration_hours_override_config(kiosk, tmp_path):
    """QA: after one save on the admin hours page, edits of config.yaml's opening_hours did nothing, silently."""
    from centre.config import load_config
    from centre.db import connect
    from centre.queue import Queue

    def hours():
        _, out, _ = kiosk("doctor", "--json")
        return {d["part"]: d for d in map(json.loads, out.splitlines())}["opening hours"]["message"]

    assert hours() == "as in config.yaml"
    q = Queue(connect(tmp_path / "var" / "centre.db"), load_config(tmp_path / "config.yaml"))
    q.update_service("B", actor="admin", opening_hours={"mon": ["08:00-11:00"]})
    q.update_service("C", actor="admin", closed=True)
    assert hours() == ("services B use the hours set in Administration (the browser); config.yaml's "
                       "opening_hours no longer apply to them; services C are closed by an administrator")


def test_issue_takes_the_service_letter_as_an_argument_too(kiosk):
    """QA: `kiosk ticket issue A` (the first thing a new administrator types) gave the top-level
    usage and 'unrecognized arguments: A'."""
    assert jrun(kiosk, "ticket", "issue", "A", "--ignore-hours")["code"] == "A001"
    assert jrun(kiosk, "ticket", "issue", "b", "--ignore-hours")["code"] == "B001"
    code, _, err = kiosk("ticket", "issue", "A", "--service", "B", "--ignore-hours")
    assert code == 2 and err == "error: two services given: A and --service B\n"


def test_doctor_finds_a_misspelt_service_field(kiosk, tmp_path):
    """QA: fields: ["ho-tichh", ...] passed `config check` and doctor, and birth registration
    silently went to the catch-all service D."""
    from centre.catalogue import ensure_catalogue
    from centre.config import load_config
    from centre.db import connect

    def check():
        _, out, _ = kiosk("doctor", "--json")
        return {d["part"]: d for d in map(json.loads, out.splitlines())}.get("service fields")

    assert check() is None  # no catalogue yet: nothing to compare with
    ensure_catalogue(connect(tmp_path / "var" / "centre.db"), load_config())  # the shipped catalogue
    assert check()["ok"]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('fields: ["ho-tich"', 'fields: ["ho-tichh"', 1),
                   encoding="utf-8")
    bad = check()
    assert not bad["ok"] and bad["message"].startswith("not in the catalogue: A: field 'ho-tichh'")


def test_list_with_a_bad_day_is_an_error_not_no_tickets(kiosk):
    code, out, err = kiosk("ticket", "list", "--day", "yesterday")
    assert (code, out) == (2, "")
    assert err == "error: --day 'yesterday' is not a date like 2026-11-25 (or 'all')\n"
    assert kiosk("ticket", "list", "--day", "all")[0] == 0


def test_issue_by_procedure_takes_the_catalogue_service(kiosk, tmp_path):
    from centre.catalogue import ensure_catalogue
    from centre.config import load_config
    from centre.db import connect

    cfg = load_config(tmp_path / "config.yaml")
    ensure_catalogue(connect(cfg.database_path), load_config())  # the shipped catalogue
    t = jrun(kiosk, "ticket", "issue", "--procedure", "1.000894", "--ignore-hours")  # Đăng ký kết hôn
    assert (t["service"], t["procedure_key"], t["code"]) == ("A", "1.000894", "A001")
    t = jrun(kiosk, "ticket", "issue", "--procedure", "1.012753", "--ignore-hours")  # đất đai
    assert t["service"] == "B"
    code, _, err = kiosk("ticket", "issue", "--procedure", "9.999999", "--ignore-hours")
    assert code == 2 and "no procedure '9.999999'" in err

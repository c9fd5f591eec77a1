"""Hardening left by round 11's attack on the centre (rule 4: bad input gets a clear error and
loses nothing). config.yaml: a control character, nesting thousands deep, .inf/.nan numbers,
names a display cannot show, a priority key twice, a PIN hash or kiosk token that cannot work are
each a config error naming key and line, not a traceback or a silent fault. data/holidays.yaml:
every mistake names its line, and the queue keeps issuing (was a 500 per ticket); the dossier API
answers 503. The staff server refuses JSON bodies with more than one reading (a key twice, NaN,
nested past the parser) in its error shape. The hub's Excel report survives a ward name with a
control character. A staff server killed with SIGKILL while a remote kiosk issues (slow) loses
and doubles no ticket."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from centre.config import ConfigError, load_config
from kiosk import cli

# -- config errors: one way to make them and to read them -----------------------------------------


def _config_with(tmp_path, old: str, new: str):
    """The shipped config.yaml with `old` replaced by `new` in tmp_path; (its path, the line changed)."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, text[: text.index(old)].count("\n") + 1


def _refused(path: Path) -> str:
    """The ConfigError that loading `path` must raise, as text."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def _config_error(tmp_path, old: str, new: str) -> tuple[str, int]:
    """The ConfigError of config.yaml with `old` replaced by `new`, and the line of the change."""
    path, line = _config_with(tmp_path, old, new)
    return _refused(path), line


def _check_fails(path: Path, capsys, needle: str) -> None:
    """`kiosk config check` on `path` exits 2 saying `needle`, with no traceback."""
    rc = cli.main(["--config", str(path), "config", "check"])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err, err


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
    error = _refused(path)
    assert f"line {at + 1}:" in error and f"#x{ord(char):04x}" in error, error
    _check_fails(path, capsys, f"line {at + 1}:")


# -- 2. config.yaml numbers that are not finite -------------------------------------------------

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
    error, line = _config_error(tmp_path, old, new)
    assert f"{key} (line {line}): " in error and "not a finite number" in error, error


# -- 3. data/holidays.yaml mistakes ---------------------------------------------------------------

BAD_HOLIDAYS = {
    "a folder": (None, "cannot read"),
    "a list at the top": ("- 2026-01-01\n", "(top level): expected a mapping"),
    "years as a list": ("years: [2026]\n", "years (line 1): expected a mapping of years"),
    "a year as a list": ("years:\n  2026: [a]\n", "(line 2): expected a mapping with holidays"),
    "holidays as a text": ("years:\n  2026:\n    holidays: abc\n", "holidays (line 3): expected a list"),
    "a year given twice": ("years:\n  2026:\n    holidays: []\n  2026:\n    holidays: []\n", "line 4"),
    "a NUL": ("years:\x00\n", "line 1"),
    "a span of 8000 years": ("years:\n  2026:\n    holidays:\n      - {from: 0001-01-01, to: 9999-12-31}\n",
                             "(line 4): 3652059 days"),
}


@pytest.mark.parametrize("case", BAD_HOLIDAYS)
def test_a_broken_holidays_file_names_its_line_and_tickets_are_still_issued(case, tmp_path):
    """The queue reads the holidays file for its opening days and ignores a HolidayFileError
    ('kiosk doctor reports the file; tickets still work'), but a folder, a list where a mapping
    belongs or a year written as a list raised OSError/AttributeError instead: every ticket was
    a 500. A year given twice silently lost the first year's holidays (safe_load keeps the last);
    a mistyped span loaded 3.6 million dates (a minute in every process)."""
    from staff_helpers import Centre

    from centre.config import parse_config
    from centre.workdays import HolidayFileError, load_calendar

    content, needle = BAD_HOLIDAYS[case]
    hol = tmp_path / "holidays.yaml"
    if content is None:
        hol.mkdir()
    else:
        hol.write_text(content, encoding="utf-8")
    with pytest.raises(HolidayFileError) as info:
        load_calendar(hol)
    assert str(info.value).startswith(str(hol)) and needle in str(info.value), str(info.value)

    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = (text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
            .replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
            .replace('holidays: "data/holidays.yaml"', f'holidays: "{hol}"'))
    cfg = parse_config(text, base_dir=ROOT, source=ROOT / "config.yaml")
    (tmp_path / "var").mkdir()
    centre = Centre(cfg, tmp_path / "var" / "centre.db")
    r = centre.client("kiosk").post("/api/tickets", json={"service": "A"})
    assert r.status_code == 201, r.text


def test_the_shipped_holidays_file_still_loads():
    from centre.workdays import load_calendar

    cal = load_calendar(ROOT / "data" / "holidays.yaml")
    assert 2026 in cal.years_with_tet and len(cal.holidays) > 20


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_a_config_nested_thousands_deep_is_a_config_error_not_a_traceback(opening, tmp_path, capsys):
    closing = "]" if opening == "[" else "}"
    text = (ROOT / "config.yaml").read_text(encoding="utf-8") + "extra: " + opening * 5000 + "1" + closing * 5000 + "\n"
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    assert "nested too deeply" in _refused(path)
    _check_fails(path, capsys, "nested too deeply")


# -- 4. config.yaml names a display or a ticket cannot show ---------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\u200b", "\x1b", "\u2028"])
def test_a_config_name_with_a_control_or_invisible_character_names_key_and_line(char, tmp_path):
    """Counter, service, waypoint and centre names in config.yaml go to the hall display, the
    ticket print and the report CSV; the staff pages refuse such names when saved there, the
    config took them (a NUL, a bidi override reversing 'Quầy 1', a zero-width space)."""
    esc = char.encode("unicode_escape").decode()
    error, line = _config_error(tmp_path, 'vi: "Quầy 1"', f'vi: "Quầy {esc}1"')
    assert f"counters[0].name.vi (line {line}): holds a control or invisible character (U+{ord(char):04X})" \
        in error, error


def test_vietnamese_names_with_marks_still_load(tmp_path):
    path, _ = _config_with(tmp_path, 'vi: "Quầy 1"', 'vi: "Quầy một — Hộ tịch (ưu tiên) ❤ 1"')
    assert load_config(path).counters[0].name.vi.startswith("Quầy một")


def test_a_priority_group_key_given_twice_names_key_and_line(tmp_path):
    error, line = _config_error(tmp_path, "key: disability", "key: elderly")
    assert f"priority_groups[1].key (line {line}): priority group key 'elderly' is used twice" in error, error


@pytest.mark.parametrize("value", ['"123456"', '"scrypt$16384$8$1$c2FsdA"', '"garbage"',
                                   '"scrypt$16384$8$99999999$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0"'])
def test_a_staff_pin_hash_no_set_pin_could_write_names_key_and_line(value, tmp_path):
    """A PIN typed in plain, a hash cut short or one whose scrypt costs minutes loaded: the staff
    screen then took no PIN at all (or hung on each try) and `kiosk doctor` said 'staff PIN set'."""
    error, line = _config_error(tmp_path, "staff_pin_hash: null", f"staff_pin_hash: {value}")
    assert f"kiosk.staff_pin_hash (line {line}): is not a PIN hash written by `kiosk staff set-pin`" in error, error


def test_a_pin_hash_set_pin_writes_still_loads(tmp_path):
    from centre.pin import hash_pin, verify_pin

    h = hash_pin("482913")
    path, _ = _config_with(tmp_path, "staff_pin_hash: null", f'staff_pin_hash: "{h}"')
    assert verify_pin("482913", load_config(path).kiosk.staff_pin_hash)


# -- 5. JSON bodies with more than one reading ----------------------------------------------------

NOT_STRICT_JSON = {
    "a key given twice": (b'{"service": "A", "service": "B"}', "a key appears twice"),
    "a key given twice, deeper": (b'{"service": "A", "x": {"k": 1, "k": 2}}', "a key appears twice"),
    "NaN": (b'{"service": "A", "priority": NaN}', "NaN is not a JSON number"),
    "-Infinity": (b'{"service": "A", "x": -Infinity}', "-Infinity is not a JSON number"),
    "1e400": (b'{"service": "A", "x": 1e400}', "read as infinity"),
    "nested 10,000 deep": (b'{"service": "A", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested too deeply"),
    "an integer of 5,000 digits": (b'{"service": "A", "x": ' + b"9" * 5000 + b"}", "too many digits"),
    "not UTF-8": (b'{"service": "A", "actor": "\xff"}', "not UTF-8"),
}


@pytest.fixture
def centre(tmp_config, tmp_path):
    from staff_helpers import Centre

    return Centre(tmp_config, tmp_path / "centre.db")


@pytest.mark.parametrize("case", NOT_STRICT_JSON)
@pytest.mark.parametrize("ctype", ["application/json", "application/merge-patch+json; charset=utf-8"])
def test_a_json_body_with_more_than_one_reading_is_a_422_and_issues_nothing(case, ctype, centre):
    """`{"service": "A", "service": "B"}` issued a B ticket (json.loads keeps the last key; a proxy
    or a log may read the first); NaN, -Infinity and 1e400 (read as infinity) were taken as numbers;
    10,000 levels, 5,000 digits or bytes not UTF-8 were a bare 400 {"detail": ...}, not the error shape."""
    body, needle = NOT_STRICT_JSON[case]
    kiosk = centre.client("kiosk")
    r = kiosk.post("/api/tickets", content=body, headers={"content-type": ctype})
    assert r.status_code == 422, (r.status_code, r.text[:200])
    got = r.json()
    assert got["error"] == "InvalidRequest" and got["fields"] == ["body"] and needle in got["message"], got
    assert got["text"] and r.headers["x-content-type-options"] == "nosniff"
    assert centre.queue().list(limit=10) == []


def test_plain_json_still_issues_and_a_syntax_error_still_names_its_place(centre):
    kiosk = centre.client("kiosk")
    parts = [b'{"service": ', b'"A", "priority": null, "lang": "vi", "x": [1.5, -2e10, {"k": "\xc3\xa9"}]}']
    r = kiosk.post("/api/tickets", content=iter(parts), headers={"content-type": "application/json"})
    assert r.status_code == 201 and r.json()["ticket"]["service"] == "A", r.text  # a chunked body, handed on whole
    r = kiosk.post("/api/tickets", content=b'{"service": "A",', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["fields"] == ["body.16"], r.text
    officer = centre.client("officer")
    r = officer.post("/api/counters/1/call-next", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["ticket"]["service"] == "A", r.text  # an empty body: no JSON to check


# -- 6. the dossier register with a broken holidays file ------------------------------------------


def test_a_broken_holidays_file_makes_the_dossier_api_a_clear_503_not_a_500(tmp_path):
    """The register needs the holidays for due dates: a holidays file with a mistake made every
    dossier page, kiosk lookup and platform push a bare 500. Now a 503 in the error shape that
    names no server path, and it works again as soon as the file is mended (nothing cached)."""
    from staff_helpers import Centre

    from centre.config import parse_config

    hol = tmp_path / "holidays.yaml"
    hol.write_text("years: [2026]\n", encoding="utf-8")
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = (text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
            .replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
            .replace('holidays: "data/holidays.yaml"', f'holidays: "{hol}"'))
    cfg = parse_config(text, base_dir=ROOT, source=ROOT / "config.yaml")
    (tmp_path / "var").mkdir()
    centre = Centre(cfg, tmp_path / "var" / "centre.db")
    officer, kiosk = centre.client("officer"), centre.client("kiosk")
    for client, url in [(officer, "/api/dossiers/due"), (kiosk, "/api/dossiers/public/000.00.00.H00-261125-0001")]:
        r = client.get(url)
        assert r.status_code == 503, (url, r.status_code, r.text[:200])
        got = r.json()
        assert got["error"] == "DossiersUnavailable" and "holidays" in got["message"], got
        assert str(tmp_path) not in r.text
    hol.write_text((ROOT / "data" / "holidays.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert officer.get("/api/dossiers/due").status_code == 200
    assert kiosk.get("/api/dossiers/public/000.00.00.H00-261125-0001").status_code == 404


# -- 7. the hub's report downloads with a ward name holding control characters -----------------------


@pytest.mark.parametrize("name", ["Phường\x01Mông Dương", "X\x00Y", "Phường \u202eA", "=cmd|' /C calc'!A0\x0b"])
def test_a_ward_name_with_control_characters_still_gives_the_excel_and_csv_reports(name):
    """`kiosk province add-centre --name` takes any text: a control character in the name made
    openpyxl raise IllegalCharacterError, and the hub's Excel report was a 500 (the CSV carried
    the raw NUL or bidi override). Both now write it as an escape; formulas stay neutralised."""
    import csv
    import io
    from datetime import date

    import openpyxl

    from province import queries, report

    period = queries.Period(date(2026, 11, 1), date(2026, 12, 1), "2026-11", "month")
    none = {key: None for key, _, _ in report.LINES}
    ward = {"centre_id": "w1", "name": name}
    for one in (True, False):
        rep = {"period": period, "ward": ward if one else None, "wards": [ward], "per_ward": {"w1": none},
               "total": none, "decision_766": [], "lines": report.LINES, "total_label": "Tổng toàn tỉnh"}
        ws = openpyxl.load_workbook(io.BytesIO(report.to_xlsx(rep))).active
        cells = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
        shown = [c for c in cells if "\\u00" in c or "\\u202e" in c]
        assert shown and all(not any(ord(ch) < 32 or ch == "\u202e" for ch in c) for c in cells), cells
        assert not any(c.startswith("=") for c in cells)
        rows = list(csv.reader(io.StringIO(report.to_csv(rep).decode("utf-8-sig"))))
        flat = [v for r in rows for v in r]
        assert not any(ord(ch) < 32 or ch == "\u202e" for v in flat for ch in v), flat
        assert not any(v.startswith("=") for v in flat)


# -- 8. kill -9 of the staff server while a remote kiosk issues ---------------------------------------


def _served_config(tmp_path) -> Path:
    """config.yaml in tmp_path: its own database, the shipped data by absolute path."""
    import re

    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = (text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
            .replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
            .replace('image: "assets', f'image: "{ROOT}/assets'))
    for key in ("catalogue", "holidays", "forms"):
        text = re.sub(rf'  {key}: "([^"]+)"', lambda m, k=key: f'  {k}: "{ROOT}/{m.group(1)}"', text)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "var").mkdir(exist_ok=True)
    return path


@pytest.mark.slow
def test_the_staff_server_killed_while_a_remote_kiosk_issues_loses_and_doubles_no_ticket(tmp_path):
    """A real `kiosk staff serve` process on a real SQLite file is killed (SIGKILL) five times
    while a remote kiosk (staff.client.RemoteQueue) issues tickets with idempotency keys, and
    restarted each time. A request whose answer was lost is sent again with its key once the
    server is back, as the kiosk's retry does. Every key then has exactly one ticket, every
    answer the kiosk got names that ticket, and the numbers run 1..n with no gap or repeat."""
    import random
    import signal
    import subprocess
    import sys
    import threading
    import time

    import httpx

    from centre import users
    from centre.db import connect
    from staff.client import RemoteQueue
    from staff.server import free_port

    cfg_path = _served_config(tmp_path)
    cfg = load_config(cfg_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def start():
        proc = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(cfg_path), "serve",
                                 "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/api/services", timeout=1).status_code == 401:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError("the staff server did not start")

    proc = start()  # (it makes the database's tables)
    conn = connect(cfg.database_path)
    token = users.create_api_token(conn, users.create_user(conn, "kiosk2", "kiosk", "kiosk-pass-12").id, "t")
    conn.close()
    kiosk = RemoteQueue(url, token, timeout=2.0, retries=2, retry_delay_s=0.2)
    answers: dict[str, int] = {}
    lost: list[str] = []
    stop = threading.Event()

    def issue_forever():
        i = 0
        while not stop.is_set():
            key = f"visit-{i}"
            i += 1
            try:
                answers[key] = kiosk.issue("A", ignore_hours=True, idempotency_key=key).id
            except Exception:  # noqa: BLE001 - the server is down: this visit's key is sent again later
                lost.append(key)
                time.sleep(0.05)

    worker = threading.Thread(target=issue_forever, daemon=True)
    worker.start()
    rng = random.Random(11)
    try:
        for _ in range(5):
            time.sleep(rng.uniform(0.3, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = start()
        time.sleep(0.5)
        stop.set()
        worker.join(30)
        for key in lost:  # the kiosk sends a request whose answer it never got again, with its key
            answers.setdefault(key, kiosk.issue("A", ignore_hours=True, idempotency_key=key).id)
            assert kiosk.issue("A", ignore_hours=True, idempotency_key=key).id == answers[key]
    finally:
        stop.set()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    conn = connect(cfg.database_path)
    rows = conn.execute("SELECT id, number FROM tickets WHERE series = 'A' ORDER BY number").fetchall()
    keyed = dict(conn.execute("SELECT key, ticket_id FROM ticket_requests").fetchall())
    conn.close()
    assert len(answers) > 20 and lost, (len(answers), len(lost))  # the kills did cut requests
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1))  # no number lost or given twice
    assert len(rows) == len(answers) == len(set(answers.values()))  # one ticket per visit
    mine = {k.split(":", 1)[1]: v for k, v in keyed.items()}
    assert mine == answers  # every answer the kiosk got is the ticket the server keeps for its key


# -- 9. the remote kiosk's token in config.yaml ------------------------------------------------------


@pytest.mark.parametrize("token", ['"kt_abc\\ndef"', '"kt_abc def"', '"kt_\\u00e9t"', '""'])
def test_a_kiosk_token_that_cannot_be_sent_names_key_and_line_but_not_the_token(token, tmp_path):
    """centre.token goes into the Authorization header: with a line break or a space inside, httpx
    refused it and the kiosk said 'cannot reach the centre server'."""
    error, line = _config_error(tmp_path, "  token: null", f"  token: {token}")
    assert f"centre.token (line {line}): is not one API token" in error and "kt_" not in error, error


def test_a_kiosk_token_as_made_still_loads(tmp_path):
    path, _ = _config_with(tmp_path, "  token: null", '  token: "kt_Zx-9_Q0aB7cD8eF9gH0iJ1kL2mN3oP4qR5sT6uV7w"')
    assert load_config(path).centre.token.startswith("kt_Zx")


@pytest.mark.parametrize("name", ["Phường\x01Mông Dương", "X\x00Y", "Phường \u202eA", "A\u200bB"])
def test_add_centre_refuses_a_name_with_control_characters_before_any_database(name, capsys):
    from province import cli as province_cli

    rc = province_cli.main(["add-centre", "--dsn", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
                            "--name", name, "--", "mong-duong"])
    err = capsys.readouterr().err
    assert rc == 2 and "--name holds a control or invisible character" in err, err


def test_add_centre_takes_a_vietnamese_name(capsys):
    from province import cli as province_cli

    assert province_cli._centre_name_ok("Phường Mông Dương (TP. Cẩm Phả)")

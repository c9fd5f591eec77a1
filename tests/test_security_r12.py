"""Hardening left by round 12's attack on the centre core (rule 4: bad input gets a clear error and
loses nothing; oversized or malformed input is refused before it costs memory).

Files an administrator names (config.yaml, catalogue files, dossier exports) are read at most to a
limit, so /dev/zero or a 50 MB file given by mistake is refused at once (config check and catalogue
import hung, filling memory); a byte that is not UTF-8 is named by line and column. A dossier CSV
the csv module refuses (a field over its limit, no delimiter) is a clear error, nothing imported
(was a traceback). `kiosk dossier due --days` past the API's 60 is refused (a traceback after
seconds of CPU). The sync agent cuts a hub that trickles its answer (one exchange held the agent
for as long as the hub liked) and records a cut or garbled answer as its last error (an exception
the doctor never saw).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT

from centre import outbox
from centre.catalogue_import import CatalogueError, import_catalogue
from centre.catalogue_schema import ensure_schema
from centre.config import ConfigError, load_config
from centre.db import connect
from centre.dossiers import Dossiers, ImportFileError
from centre.sync import HttpTransport, SyncAgent
from centre.workdays import load_calendar
from kiosk import cli

CATALOGUE = ROOT / "tests" / "data" / "catalogue"
EXPORT = ROOT / "tests" / "data" / "dossiers" / "export.csv"


def _endless(tmp_path: Path, name: str) -> Path:
    """A file name that reads as an endless stream of zero bytes (a mistaken path, a device)."""
    p = tmp_path / name
    os.symlink("/dev/zero", p)
    return p


# -- 1. config.yaml: too big, not UTF-8 ---------------------------------------------------------


def test_an_endless_config_file_is_refused_at_once_not_read_into_memory(tmp_path, capsys):
    path = _endless(tmp_path, "config.yaml")
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "larger than 1 MB" in str(info.value) and time.monotonic() - t0 < 5
    assert cli.main(["--config", str(path), "config", "check"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_config_byte_that_is_not_utf8_names_its_line_and_column(tmp_path, capsys):
    lines = (ROOT / "config.yaml").read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(b"timezone:"))
    lines[at] = lines[at].replace(b"Asia", b"As\xe9a")
    path = tmp_path / "config.yaml"
    path.write_bytes(b"".join(lines))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    col = lines[at].index(b"\xe9") + 1
    assert f"line {at + 1}, column {col}:" in str(info.value) and "0xe9" in str(info.value), str(info.value)


# -- 2. catalogue files: too big, not UTF-8; the old catalogue stays -----------------------------


def _catalogue(tmp_path: Path) -> Path:
    d = tmp_path / "cat"
    d.mkdir()
    for name in ("fields.yaml", "national.jsonl", "manual.yaml", "enrichment.yaml"):
        (d / name).write_bytes((CATALOGUE / name).read_bytes())
    return d


def test_an_endless_catalogue_file_is_refused_and_the_old_catalogue_stays(tmp_path, capsys):
    conn = connect(tmp_path / "centre.db")
    cat = _catalogue(tmp_path)
    import_catalogue(conn, cat)
    before = conn.execute("SELECT COUNT(*) FROM procedures").fetchone()[0]
    (cat / "national.jsonl").unlink()
    os.symlink("/dev/zero", cat / "national.jsonl")
    t0 = time.monotonic()
    with pytest.raises(CatalogueError) as info:
        import_catalogue(conn, cat)
    assert "larger than 16 MB" in str(info.value) and time.monotonic() - t0 < 5
    assert conn.execute("SELECT COUNT(*) FROM procedures").fetchone()[0] == before
    assert cli.main(["catalogue", "import", str(_endless(tmp_path, "portal.jsonl"))]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_catalogue_byte_that_is_not_utf8_names_file_line_and_column(tmp_path):
    conn = connect(tmp_path / "centre.db")
    cat = _catalogue(tmp_path)
    lines = (cat / "national.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"name": "', b'"name": "\xff', 1)
    (cat / "national.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(CatalogueError) as info:
        import_catalogue(conn, cat)
    (p,) = info.value.problems
    assert p.file.endswith("national.jsonl") and p.line == 3 and "0xff is not UTF-8" in p.message, str(p)


# -- 3. dossier exports -------------------------------------------------------------------------


@pytest.fixture
def register(tmp_path):
    conn = connect(tmp_path / "centre.db")
    ensure_schema(conn)
    header = EXPORT.read_text(encoding="utf-8").splitlines()[0].split(",")
    keys = ("code", "procedure_code", "applicant_name", "applicant_phone", "received_at", "due_at", "state",
            "counter", "officer", "missing_documents")
    reg = Dossiers(conn, load_calendar(ROOT / "data" / "holidays.yaml"),
                   tz=ZoneInfo("Asia/Ho_Chi_Minh"), column_map=dict(zip(keys, header, strict=True)))
    yield reg
    conn.close()


def _count(reg) -> int:
    return reg.conn.execute("SELECT COUNT(*) FROM dossiers").fetchone()[0]


def test_an_endless_dossier_export_is_refused_at_once(register, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(ImportFileError, match="larger than 64 MB"):
        register.import_file(_endless(tmp_path, "export.csv"))
    with pytest.raises(ImportFileError, match="larger than 64 MB"):
        register.import_file(_endless(tmp_path, "export.json"))
    assert time.monotonic() - t0 < 5 and _count(register) == 0


def test_a_csv_field_past_the_csv_limit_names_its_line_and_imports_nothing(register, tmp_path):
    """Good rows first, then one with a 200,000-character cell: csv.Error escaped as a traceback;
    now an ImportFileError naming line 4, and the good rows before it are not kept either."""
    lines = EXPORT.read_text(encoding="utf-8").splitlines()
    f = tmp_path / "export.csv"
    f.write_text("\n".join(lines[:3] + ["X-1,1.001193," + "x" * 200_000] + lines[3:]) + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"line 4: not a CSV row"):
        register.import_file(f)
    assert _count(register) == 0


def test_a_csv_with_no_delimiter_is_a_missing_column_not_a_traceback(register, tmp_path):
    f = tmp_path / "export.csv"
    f.write_text('abc\n"def\n', encoding="utf-8")
    with pytest.raises(ImportFileError, match="no column for the receipt code"):
        register.import_file(f)


def test_a_csv_byte_that_is_not_utf8_names_its_line(register, tmp_path):
    f = tmp_path / "export.csv"
    f.write_bytes(EXPORT.read_bytes().replace("Trần".encode(), b"Tr\xe2n", 1))
    with pytest.raises(ImportFileError, match=r"line 3, column \d+: byte 0xe2 is not UTF-8"):
        register.import_file(f)
    assert _count(register) == 0


def _cli_config(tmp_path: Path) -> Path:
    """The shipped config with its database in tmp_path, for `cli.main`."""
    path = tmp_path / "config.yaml"
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    text = text.replace('"data/', f'"{ROOT}/data/')
    path.write_text(text, encoding="utf-8")
    (tmp_path / "var").mkdir(exist_ok=True)
    return path


@pytest.mark.parametrize("days", ["61", "99999999999"])
def test_dossier_due_days_past_the_apis_limit_is_a_plain_error(days, tmp_path, capsys):
    rc = cli.main(["--config", str(_cli_config(tmp_path)), "dossier", "due", "--days", days])
    err = capsys.readouterr().err
    assert rc == 2 and "from 0 to 60" in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv", [["dossier", "digest", "--date", "9999-12-31"], ["report", "--date", "9999-12-31"],
                                  ["report", "--date", "2026-12-01", "--to", "9999-12-31"]])
def test_a_date_at_the_end_of_the_calendar_is_a_plain_error(argv, tmp_path, capsys):
    """The working-day arithmetic ran past date.max: OverflowError traceback, exit 1."""
    rc = cli.main(["--config", str(_cli_config(tmp_path)), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and "1900 to 2999" in err and "Traceback" not in err, err


# -- 4. the sync agent and a hub that answers badly ---------------------------------------------


class RawHub:
    """A TCP server that reads a request and answers with `behave(conn)` (a real socket)."""

    def __init__(self, behave):
        self.behave = behave
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                self.behave(conn, self.stop)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.sock.close()


def _trickle(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b" ")
        time.sleep(0.2)


def _cut_short(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"last")


def _garbled(conn, stop):
    conn.sendall(b"HTTP/1.1 2OO OK\r\n\r\n{}")


@pytest.fixture
def centre_db(tmp_config, tmp_path):
    from centre.clock import FixedClock
    from centre.queue import Queue

    conn = connect(tmp_path / "centre.db")
    outbox.install(conn)
    q = Queue(conn, tmp_config, FixedClock(datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))))
    q.issue("A")
    yield conn
    conn.close()


@pytest.mark.slow
def test_a_hub_that_trickles_its_answer_is_cut_and_the_cursor_stays(centre_db):
    """Each byte inside timeout_s, the answer never done: the send held for as long as the hub
    liked (1000 bytes at 0.2 s = 200 s here); now it is cut after 4 × timeout_s."""
    hub = RawHub(_trickle)
    try:
        agent = SyncAgent(centre_db, HttpTransport(f"http://127.0.0.1:{hub.port}", "w1", "tok", timeout_s=0.5))
        t0 = time.monotonic()
        r = agent.step()
        took = time.monotonic() - t0
    finally:
        hub.close()
    assert took < 6, took
    assert r.error and "did not answer within 2 s" in r.error, r.error
    assert outbox.acked_seq(centre_db) == 0 and r.backlog > 0
    assert "did not answer" in outbox.get_state(centre_db)["last_error"]


@pytest.mark.parametrize("behave", [_cut_short, _garbled], ids=["body-cut-short", "garbled-status"])
def test_a_cut_or_garbled_answer_is_a_recorded_sync_error(behave, centre_db):
    """http.client's IncompleteRead / BadStatusLine escaped `step()`: the loop logged a traceback at
    every retry and `kiosk doctor` kept saying the sync was fine (no last_error recorded)."""
    hub = RawHub(behave)
    try:
        agent = SyncAgent(centre_db, HttpTransport(f"http://127.0.0.1:{hub.port}", "w1", "tok", timeout_s=2))
        r = agent.step()
    finally:
        hub.close()
    assert r.error and "cut or garbled" in r.error, r.error
    assert outbox.acked_seq(centre_db) == 0
    assert "cut or garbled" in outbox.get_state(centre_db)["last_error"]



# -- 5. dossier lookups and imports with text SQLite cannot take ---------------------------------


@pytest.mark.parametrize("code", ["\ud800", "000.00.19.H29-260213-0001\udfff"])
def test_a_hostile_lookup_code_finds_nothing_and_raises_nothing(register, code):
    """A lone surrogate (a JSON "\\ud800" escape reaches the kiosk and the staff API) raised
    UnicodeEncodeError from SQLite's binding (a 500 or a crash of the caller)."""
    register.import_file(EXPORT)
    assert register.get(code) is None and register.history(code) == []
    assert register.lookup_public(code) is None


@pytest.mark.parametrize("key", ["code", "procedure_code", "applicant_name", "received_at", "officer"])
def test_a_lone_surrogate_in_an_imported_record_rejects_that_record_only(key, register, tmp_path):
    import json

    good = {"code": "X-GOOD", "procedure_code": "1.001193", "applicant_name": "Nguyễn Văn An",
            "received_at": "2026-02-13 10:00", "state": "Đang xử lý", "officer": "cb.hoa"}
    bad = dict(good, code="X-BAD")
    bad[key] = bad[key] + "\ud800"
    f = tmp_path / "export.json"
    f.write_text(json.dumps([bad, good]), encoding="utf-8")  # ASCII: the \ud800 escape survives into Python
    report = register.import_file(f)
    assert report.inserted == 1 and [e.line for e in report.errors] == [1], report.errors
    assert f"{key}: holds a character that is not text" in report.errors[0].reason


# -- 6. the queue: hostile references and texts -------------------------------------------------


@pytest.fixture
def queue(tmp_config, tmp_path):
    from centre.clock import FixedClock
    from centre.queue import Queue

    conn = connect(tmp_path / "queue.db")
    q = Queue(conn, tmp_config, FixedClock(datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))))
    yield q
    conn.close()


@pytest.mark.parametrize("ref", ["\ud800", "A001\udfff", 10**30, -(10**30)])
def test_a_ticket_reference_sqlite_cannot_bind_is_an_unknown_ticket(ref, queue):
    """UnicodeEncodeError / OverflowError came out of SQLite's binding (a 500 at the API, a traceback
    at the CLI); every lookup now says there is no such ticket."""
    from centre.queue import UnknownTicket

    queue.issue("A")
    with pytest.raises(UnknownTicket):
        queue.get(ref)
    with pytest.raises(UnknownTicket):
        queue.by_token(ref)
    with pytest.raises(UnknownTicket):
        queue.public_status(ref)
    assert queue.list(series=ref) == [] and queue.events(since_id=10**30) == []


@pytest.mark.parametrize("field,value", [("procedure_key", "\ud800"), ("procedure_key", "x" * 1_000_000),
                                         ("actor", "kiosk\ud800"), ("source", "k" * 1_000_000)])
def test_issue_refuses_a_text_it_cannot_or_should_not_store(field, value, queue):
    """A 1 MB procedure key was kept in the ticket (and its outbox row, and every sync); a lone
    surrogate raised UnicodeEncodeError mid-transaction."""
    from centre.queue import InvalidInput

    with pytest.raises(InvalidInput):
        queue.issue("A", **{field: value})
    assert queue.list(day="all") == []
    assert queue.issue("A", procedure_key="1.001193").code == "A001"  # nothing was half-issued


def test_a_change_by_an_actor_with_a_lone_surrogate_is_refused_and_rolled_back(queue):
    from centre.queue import InvalidInput

    t = queue.issue("A")
    with pytest.raises(InvalidInput):
        queue.call_next(1, actor="officer:\ud800")
    assert queue.get(t.id).state == "waiting" and queue.current_ticket(1) is None


def test_a_service_name_of_a_megabyte_is_refused(queue):
    from centre.queue import InvalidInput

    with pytest.raises(InvalidInput, match="longer than 200"):
        queue.update_service("A", actor="admin", name_vi="x" * 1_000_000)
    assert len(queue.service("A").name_vi) < 200


@pytest.mark.parametrize("day", ["9999-99-99", "2099-01-01", "tomorrow"])
def test_expire_day_after_today_is_refused_and_todays_tickets_stay(day, queue):
    """expire_day compared days as text: "9999-99-99" is after today, so today's waiting
    tickets were expired (lost) by one wrong argument."""
    from centre.queue import InvalidInput

    t = queue.issue("A")
    with pytest.raises(InvalidInput):
        queue.expire_day(day, actor="admin")
    assert queue.get(t.id).state == "waiting"


# -- 7. a printed ticket with a long unbroken name ----------------------------------------------


def test_a_long_name_without_spaces_is_wrapped_at_once(queue):
    """_wrap cut an over-long word one character at a time, measuring the whole rest each time:
    3,000 characters without a space took a minute at the kiosk's printer (1,000: 3 s)."""
    from centre.tickets import render_png, ticket_content

    t = queue.issue("A")
    content = ticket_content(queue, t, procedure_name="x" * 3000)
    t0 = time.monotonic()
    png = render_png(content)
    assert png.startswith(b"\x89PNG") and time.monotonic() - t0 < 3
    t0 = time.monotonic()
    render_png(ticket_content(queue, t, procedure_name="https://dichvucong.gov.vn/" + "y" * 1_000_000))
    assert time.monotonic() - t0 < 3


# -- 8. config.yaml: a hub address the sync cannot use ------------------------------------------


@pytest.mark.parametrize("url", ["hub.province.local:8090", "ftp://hub.province.local", "file:///etc/passwd",
                                 "http://user:pass@hub.local", "http://hub.local/?x=1"])
def test_a_province_url_the_sync_cannot_use_names_key_and_line(url, tmp_path):
    """province.url took any text: without http:// every send failed at run time with "unknown url
    type" (and file:// read a local file as the hub's answer), never as a config error."""
    lines = (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("url: null") and i > 200)
    lines[at] = lines[at].replace("url: null", f'url: "{url}"')
    path = tmp_path / "config.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "province.url" in str(info.value) and f"line {at + 1}" in str(info.value), str(info.value)


def test_a_hub_address_with_a_port_and_path_still_loads(tmp_path):
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    at = text.index("url: null", text.index("province:"))
    path = tmp_path / "config.yaml"
    path.write_text(text[:at] + 'url: "https://hub.province.local:8090/sync"' + text[at + 9:], encoding="utf-8")
    assert load_config(path).province.url == "https://hub.province.local:8090/sync"


# -- 9. the province token file -----------------------------------------------------------------


def test_an_endless_or_two_line_token_file_is_a_clear_sync_error(tmp_path):
    """read_token read the whole file: /dev/zero hung `kiosk sync`; a token with a second line went
    into the Authorization header and failed at every send as "hub not reachable: Invalid header"."""
    from centre.sync import SyncError, read_token

    t0 = time.monotonic()
    with pytest.raises(SyncError, match="not a token file"):
        read_token(_endless(tmp_path, "province.token"))
    assert time.monotonic() - t0 < 5
    f = tmp_path / "two.token"
    f.write_text("abc_DEF-123\nother-token\n", encoding="utf-8")
    with pytest.raises(SyncError, match="more than one token"):
        read_token(f)
    f.write_text("  abc_DEF-123\n", encoding="utf-8")
    assert read_token(f) == "abc_DEF-123"


# -- 10. the kiosk command with an argument that is not UTF-8 -------------------------------------


@pytest.mark.parametrize("argv", [["catalogue", "show", "\udcff"], ["ticket", "issue", "A", "--procedure", "x\udcff"]])
def test_an_argument_that_is_not_utf8_is_a_plain_error(argv, tmp_path, capsys):
    """Bytes that are not UTF-8 on the command line reach Python as surrogate escapes; SQLite's
    binding raised UnicodeEncodeError (a traceback, exit 1). A code Catalogue.get cannot bind is simply
    not there (round 12), so `catalogue show` and `ticket issue` say so."""
    path = _cli_config(tmp_path)
    rc = cli.main(["--config", str(path), *argv, *(["--ignore-hours"] if argv[0] == "ticket" else [])])
    err = capsys.readouterr().err
    assert rc == 2 and ("is not UTF-8 text" in err or "no procedure" in err), err
    assert "Traceback" not in err, err


# -- 11. the centre's sync process killed with SIGKILL mid-batch ---------------------------------


class _CountingHub:
    """A hub on a real socket that stores event uids, slowly (so kills land mid-batch)."""

    def __init__(self):
        import gzip
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        hub = self
        self.uids: list[str] = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(gzip.decompress(self.rfile.read(int(self.headers["Content-Length"]))))
                with hub.lock:
                    hub.uids += [e["uid"] for e in body["events"]]
                time.sleep(0.15)  # committed, not yet answered: a kill here means the batch is sent again
                answer = json.dumps({"last_seq": body["events"][-1]["seq"], "stored": len(body["events"])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.mark.slow
def test_the_sync_process_killed_mid_batch_loses_no_event_and_moves_no_cursor_past_the_hub(tmp_path):
    import random
    import signal
    import subprocess
    import sys

    from centre.clock import FixedClock
    from centre.queue import Queue

    hub = _CountingHub()
    try:
        text = (ROOT / "config.yaml").read_text(encoding="utf-8")
        text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
        text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
        text = text.replace('"data/', f'"{ROOT}/data/')
        at = text.index("url: null", text.index("\nprovince:"))
        text = text[:at] + f'url: "{hub.url}"' + text[at + len("url: null"):]
        text = text.replace("centre_id: null", 'centre_id: "w1"').replace("batch_size: 1000", "batch_size: 7")
        text = text.replace('token_file: "var/province.token"', f'token_file: "{tmp_path}/province.token"')
        cfg_path = tmp_path / "config.yaml"
        cfg_path.write_text(text, encoding="utf-8")
        (tmp_path / "province.token").write_text("tok_abc\n", encoding="utf-8")
        (tmp_path / "var").mkdir()
        cfg = load_config(cfg_path)
        conn = connect(cfg.database_path)
        outbox.install(conn)
        q = Queue(conn, cfg, FixedClock(datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))))
        for i in range(60):
            t = q.issue("AB"[i % 2])
            if i % 3 == 0:
                q.cancel(t, actor="test")
        cmd = [sys.executable, "-m", "kiosk", "--config", str(cfg_path), "sync"]
        rng = random.Random(12)
        for _ in range(3):  # kill it at a random point, three times, while it sends
            before = len(hub.uids)
            p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 20
            while len(hub.uids) <= before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            acked = outbox.acked_seq(conn)
            sent = set(hub.uids)
            # the cursor never passes an event the hub did not get
            assert all(r[0] in sent for r in conn.execute("SELECT uid FROM outbox WHERE seq <= ?", (acked,)))
        done = subprocess.run(cmd + ["--once"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        ours = {r[0] for r in conn.execute("SELECT uid FROM outbox")}
        assert ours == set(hub.uids)  # every event arrived (some twice: the hub drops the copies by uid)
        assert outbox.acked_seq(conn) == conn.execute("SELECT max(seq) FROM outbox").fetchone()[0]
        conn.close()
    finally:
        hub.close()


# -- 12. a catalogue line nested thousands deep ---------------------------------------------------


def test_a_catalogue_line_nested_thousands_deep_names_its_line_not_a_traceback(tmp_path, capsys):
    conn = connect(tmp_path / "centre.db")
    cat = _catalogue(tmp_path)
    with open(cat / "national.jsonl", "a", encoding="utf-8") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")
    n = len((cat / "national.jsonl").read_text(encoding="utf-8").splitlines())
    with pytest.raises(CatalogueError) as info:
        import_catalogue(conn, cat)
    (p,) = info.value.problems
    assert p.line == n and "nested too deeply" in p.message, str(p)


# -- 13. the clock set back between a success and a failure --------------------------------------


def test_a_failure_after_the_clock_was_set_back_is_still_shown_as_failing(centre_db):
    """status compared timestamps: with the clock set back an hour after a successful send, every
    later error looked older than that success, and `kiosk doctor` / `sync --status` called the
    failing sync fine ("earlier error, resolved since")."""
    from centre import sync
    from centre.sync import SyncError
    from kiosk.commands.sync import _error_text

    class Hub:  # a transport: acknowledges, then is unreachable
        up = True

        def send(self, events_json):
            import json

            if not self.up:
                raise SyncError("hub not reachable: connection refused")
            return {"last_seq": json.loads(events_json)[-1]["seq"]}

    now = [1_800_000_000.0]
    hub = Hub()
    agent = SyncAgent(centre_db, hub, wall=lambda: now[0])
    assert not agent.step().error and _error_text(sync.status(centre_db)) == "no error"
    now[0] -= 3600  # NTP sets the clock back an hour
    hub.up = False
    centre_db.execute("UPDATE tickets SET recalls = recalls + 1")  # a change to send
    assert agent.step().error
    st = sync.status(centre_db)
    assert _error_text(st).startswith("last error") and st["failing"], _error_text(st)
    hub.up = True
    assert not agent.step().error and _error_text(sync.status(centre_db)).startswith("earlier error")


# -- 14. the clock set back while people wait ----------------------------------------------------


def test_tickets_issued_after_the_clock_was_set_back_do_not_jump_the_queue(queue):
    """The place in line is queued_at, the clock's reading: after an NTP step back of an hour every
    new ticket sorted before the people already waiting (A003 was called before A001)."""
    queue.clock.set(datetime(2026, 12, 8, 10, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    first = [queue.issue("A").code for _ in range(2)]
    queue.clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    later = queue.issue("A").code
    called = []
    for _ in range(3):
        t = queue.call_next(1, actor="officer:lan", current="no_show")
        called.append(t.code)
    assert called == [*first, later], called


def test_catalogue_get_with_a_lone_surrogate_or_a_megabyte_finds_nothing(tmp_path):
    """Before: Catalogue.get("\\ud800") raised UnicodeEncodeError from SQLite (the CLI caught it; the
    staff and kiosk paths did not)."""
    from centre.catalogue import Catalogue, ensure_catalogue
    from centre.db import connect

    conn = connect(tmp_path / "c.db")
    ensure_catalogue(conn)
    cat = Catalogue(conn)
    assert cat.get("1.001193") is not None
    for bad in ("\ud800", "1.001193\udcff", "x" * 1_000_000):
        assert cat.get(bad) is None


def test_voice_say_refuses_a_book_at_once(tmp_path, capsys):
    """Before: 100,000 characters kept espeak-ng busy past 30 s."""
    t0 = time.monotonic()
    rc = cli.main(["--config", str(_cli_config(tmp_path)), "voice", "say", "a " * 50_000, "--out",
                   str(tmp_path / "x.wav")])
    err = capsys.readouterr().err
    assert rc == 2 and "at most 5,000" in err and time.monotonic() - t0 < 5, err


def test_backup_to_a_folder_not_there_yet_writes_into_it(tmp_path, capsys):
    """Before: `kiosk backup /mnt/usb/new/` wrote a FILE named "new" (the trailing slash was ignored)."""
    config = _cli_config(tmp_path)
    import sqlite3

    with sqlite3.connect(tmp_path / "var" / "centre.db") as db:  # a centre's database, however small
        db.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY)")
    target = tmp_path / "usb" / "new"
    assert cli.main(["--config", str(config), "backup", f"{target}/"]) == 0, capsys.readouterr().err
    assert target.is_dir() and len(list(target.glob("centre-*.db"))) == 1

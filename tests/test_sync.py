"""Outbox and sync agent without a network (issue 17): the outbox row commits with the change,
real queue and dossier code paths reach it without knowing it, no personal data leaves, the
agent sends in order, moves its cursor only on acknowledgement and backs off on failures."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from centre import outbox, ratings, ward_stats
from centre.clock import FixedClock
from centre.db import connect
from centre.indicators import Stats, indicators, percentile, ticket_stats
from centre.sync import Backoff, SyncAgent, SyncError, status

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OPEN = datetime(2026, 11, 25, 9, 0, tzinfo=TZ)  # a Wednesday morning


@pytest.fixture
def centre(tmp_config, tmp_path):
    from centre.queue import Queue

    clock = FixedClock(OPEN)
    conn = connect(tmp_path / "centre.db")
    q = Queue(conn, tmp_config, clock)
    ratings.ensure_schema(conn)
    outbox.install(conn)
    return q, clock, conn


def _kinds(conn):
    return [r[0] for r in conn.execute("SELECT kind FROM outbox ORDER BY seq")]


def test_queue_lifecycle_reaches_the_outbox_in_the_same_transaction(centre):
    q, clock, conn = centre
    t = q.issue("A")
    clock.advance(minutes=4)
    q.call_next(1, actor="officer:lan")
    q.start(t.id, actor="officer:lan")
    served = q.serve(t.id, actor="officer:lan")
    ratings.rate(conn, served, 5, now=served.finished_at.timestamp() + 60)
    kinds = _kinds(conn)
    assert kinds.count("ticket") == 4 and kinds[-1] == "rating"
    last = json.loads(conn.execute("SELECT data FROM outbox WHERE kind = 'ticket' ORDER BY seq DESC").fetchone()[0])
    assert last["token"] == t.token and last["state"] == "served" and last["first_called_at"] is not None
    rating = json.loads(conn.execute("SELECT data FROM outbox WHERE kind = 'rating'").fetchone()[0])
    assert rating["token"] == t.token and rating["rating"] == 5 and rating["day"] == OPEN.date().isoformat()
    assert last["first_called_at"] - last["issued_at"] == pytest.approx(240)
    # a change that rolls back leaves no outbox row
    n = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE tickets SET recalls = recalls + 1 WHERE id = ?", (t.id,))
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == n + 1
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == n
    # counter settings are synced (queue events without a ticket), ticket events are not duplicated
    q.set_counter_state(2, "paused", actor="officer:lan")
    assert _kinds(conn)[-1] == "setting"
    data = json.loads(conn.execute("SELECT data FROM outbox ORDER BY seq DESC").fetchone()[0])
    assert data["counter_id"] == 2 and "actor" not in data


def test_dossiers_are_synced_without_personal_data_and_late_tables_get_a_snapshot(centre, tmp_path):
    from centre.dossiers import Dossiers

    q, clock, conn = centre
    reg = Dossiers(conn, _cal(), tz=TZ)
    reg.upsert_many([(1, {"code": "A1", "applicant_name": "Nguyễn Văn An", "applicant_phone": "0912345678",
                          "received_at": "2026-11-20 08:00", "due_at": "2026-11-25", "channel": "online",
                          "digitised": "có"})], source="test")
    # the dossier tables appeared after install(): the agent's next install() covers them
    # and snapshots the rows written before
    assert outbox.install(conn) == ["dossiers", "dossier_events"]
    reg.upsert_many([(1, {"code": "A1", "applicant_name": "Nguyễn Văn An", "received_at": "2026-11-20 08:00",
                          "due_at": "2026-11-25", "state": "đã trả kết quả", "channel": "online",
                          "digitised": "có"})], source="test")
    rows = conn.execute("SELECT kind, data FROM outbox WHERE kind LIKE 'dossier%' ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == ["dossier", "dossier_event", "dossier", "dossier_event"]
    text = " ".join(r[1] for r in rows)
    assert "Nguyễn" not in text and "0912345678" not in text
    last = json.loads(rows[2][1])
    assert last["state"] == "returned" and last["channel"] == "online" and last["digitised"] == 1
    assert outbox.install(conn) == []  # nothing more to do


def _cal():
    from pathlib import Path

    from centre.workdays import load_calendar

    return load_calendar(Path(__file__).resolve().parent.parent / "data" / "holidays.yaml")


class FakeHub:
    """Stores events by uid like the hub; can be told to fail or to lose the answer."""

    def __init__(self):
        self.events: dict[str, dict] = {}
        self.order: list[int] = []
        self.fail = 0
        self.lose_answer = 0

    def send(self, events_json):
        events = json.loads(events_json)
        if self.fail:
            self.fail -= 1
            raise SyncError("hub not reachable: connection refused")
        new = [e for e in events if e["uid"] not in self.events]
        for e in events:
            self.events.setdefault(e["uid"], e)
        self.order.extend(e["seq"] for e in events)
        if self.lose_answer:  # committed, but the answer never reaches the centre
            self.lose_answer -= 1
            raise SyncError("hub not reachable: timed out")
        return {"received": len(events), "stored": len(new), "duplicates": len(events) - len(new),
                "last_seq": events[-1]["seq"]}


def _traffic(q, clock, n):
    for _ in range(n):
        q.issue("A")
    for _ in range(n):
        t = q.call_next(1, actor="officer:lan")
        q.start(t.id, actor="officer:lan")
        q.serve(t.id, actor="officer:lan")


def test_agent_sends_in_order_and_moves_its_cursor_only_on_acknowledgement(centre):
    q, clock, conn = centre
    _traffic(q, clock, 10)
    hub = FakeHub()
    agent = SyncAgent(conn, hub, batch_size=7)
    total = outbox.backlog(conn)
    assert total == 40
    hub.fail = 2
    r = agent.step()
    assert r.error and r.backlog == total and outbox.acked_seq(conn) == 0
    assert "connection refused" in status(conn)["last_error"]
    agent.step()
    hub.lose_answer = 1
    r = agent.step()   # the hub stored the batch but the centre never heard: resent next time
    assert r.error and outbox.acked_seq(conn) == 0 and len(hub.events) == 7
    while (r := agent.step()).backlog:
        assert not r.error
    assert r.backlog == 0 and status(conn)["backlog"] == 0 and status(conn)["last_sent_at"]
    local = [row[0] for row in conn.execute("SELECT uid FROM outbox ORDER BY seq")]
    assert sorted(hub.events) == sorted(local)            # nothing lost
    assert hub.order[:7] == hub.order[7:14] == list(range(1, 8))   # the resent batch, same order
    assert hub.order[14:] == sorted(hub.order[14:])       # then strictly in order


def test_backoff_doubles_to_its_cap_and_resets():
    b = Backoff(base=1, cap=8, rng=random.Random(1))
    waits = [b.next() for _ in range(6)]
    assert 0.8 <= waits[0] <= 1.2 and 1.6 <= waits[1] <= 2.4 and 3.2 <= waits[2] <= 4.8
    assert all(6.4 <= w <= 9.6 for w in waits[3:])
    b.reset()
    assert b.next() <= 1.2


def test_run_stops_when_empty_and_prune_keeps_unacknowledged(centre):
    import threading

    q, clock, conn = centre
    _traffic(q, clock, 3)
    hub = FakeHub()
    SyncAgent(conn, hub, batch_size=5, interval_s=0.01).run(threading.Event(), until_empty=True)
    assert outbox.backlog(conn) == 0 and len(hub.events) == 12
    q.issue("A")
    assert outbox.prune(conn, keep_days=0, now=OPEN.timestamp() + 86400) == 12
    assert outbox.backlog(conn) == 1  # the unsent event stays


def test_indicator_formulas():
    rows = [{"state": "served", "issued_at": 0, "first_called_at": 60 * w, "serving_at": 60 * w,
             "finished_at": 60 * w + 300} for w in range(10)]
    rows.append({"state": "no_show", "issued_at": 0, "first_called_at": 1200, "serving_at": None,
                 "finished_at": 1300})
    s = ticket_stats(rows)
    ind = indicators(s)
    assert ind["tickets"] == 11 and ind["no_show"] == 1 and ind["served"] == 10
    assert ind["wait_mean_min"] == round((sum(range(10)) + 20) / 11, 1)
    assert ind["wait_p90_min"] == 10.0  # nearest rank 10 of 11 waits 0..9, 20 → bucket 9 → 10 min
    assert ind["service_mean_min"] == 5.0 and ind["service_p90_min"] == 6.0
    assert percentile([]) is None and indicators(Stats())["on_time_rate"] is None
    # additive: the sum of two halves gives the figures of the whole
    a, b = ticket_stats(rows[:5]), ticket_stats(rows[5:])
    assert indicators(a.add(b)) == ind
    assert Stats.from_dict(json.loads(json.dumps(s.to_dict()))).to_dict() == s.to_dict()


def test_ward_stats_reads_the_same_rows_the_hub_gets(centre):
    q, clock, conn = centre
    _traffic(q, clock, 4)
    day = OPEN.date()
    s = ward_stats.daily_stats(conn, day, day + timedelta(days=1))[day]
    assert s.tickets == 4 and s.served == 4


def test_a_redirect_is_refused_and_the_token_goes_nowhere_else():
    """urllib followed a hub's 3xx with the centre's token in the Authorization header, to whatever
    host the Location named (and as a GET): a hijacked or misconfigured hub address got the token."""
    import http.server
    import threading

    from centre.sync import HttpTransport, SyncRefused

    seen: list[str | None] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def _any(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"acked": 0}')

        do_GET = do_POST = _any

        def log_message(self, *args):
            pass

    other = http.server.HTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirecting(Elsewhere):
        def do_POST(self):
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{other.server_port}/api/v1/ingest")
            self.end_headers()

    hub = http.server.HTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (other, hub):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        transport = HttpTransport(f"http://127.0.0.1:{hub.server_port}", "ward-1", "secret-token", timeout_s=5)
        with pytest.raises(SyncRefused, match="redirect"):
            transport.send("[]")
        assert seen == []
    finally:
        for server in (other, hub):
            server.shutdown()
            server.server_close()

"""Queue core (issue 4): numbering, call order, lifecycle, estimates, day rollover, overrides, bad input.

Every test uses a real SQLite file in a temporary folder and an injectable clock.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from centre.clock import FixedClock
from centre.config import QueueSection
from centre.db import connect
from centre.queue import (
    CounterBusy,
    CounterClosed,
    CurrentNotStarted,
    InvalidInput,
    InvalidTransition,
    Queue,
    QueueStorageError,
    SeriesFull,
    ServiceClosed,
    UnknownCounter,
    UnknownPriority,
    UnknownService,
    UnknownTicket,
)

# Wednesday 25 Nov 2026, 09:00 in Hà Nội (UTC+7): the centre is open.
WED_0900 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return FixedClock(WED_0900)


@pytest.fixture
def db_path(tmp_config):
    return tmp_config.database_path


@pytest.fixture
def cfg(tmp_config):
    """The shipped config without an fsync per change (behaviour tests; see test_commits_are_durable)."""
    return tmp_config.model_copy(update={"queue": tmp_config.queue.model_copy(update={"durable_commits": False})})


@pytest.fixture
def q(cfg, clock, db_path):
    return Queue(connect(db_path), cfg, clock)


def test_commits_are_durable_by_default(tmp_config, db_path):
    assert tmp_config.queue.durable_commits
    q = Queue(connect(db_path), tmp_config)
    assert q.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert q.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def snapshot(path) -> tuple:
    """Everything the queue stores, to prove a failed call changed nothing."""
    c = sqlite3.connect(path)
    try:
        return tuple(
            tuple(map(tuple, c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()))
            for t in ("tickets", "queue_events", "counter_settings", "service_settings", "queue_settings_audit")
        )
    finally:
        c.close()


# -- numbering ----------------------------------------------------------------------------


def test_numbers_run_per_series_from_001(q):
    codes = [q.issue(s).code for s in "AABAB"]
    assert codes == ["A001", "A002", "B001", "A003", "B002"]
    t = q.get("A002")
    assert t.number == 2 and t.series == "A" and t.state == "waiting" and t.day == "2026-11-25"


def test_tokens_are_random_and_resolve_only_by_token(q):
    tickets = [q.issue("A") for _ in range(20)]
    tokens = {t.token for t in tickets}
    assert len(tokens) == 20 and all(len(t) >= 12 for t in tokens)
    assert q.by_token(tickets[3].token).id == tickets[3].id
    with pytest.raises(UnknownTicket):
        q.by_token("A004")  # codes and ids are guessable: the public page accepts tokens only
    with pytest.raises(UnknownTicket):
        q.by_token(str(tickets[3].id))
    assert tickets[0].status_path == f"/t/{tickets[0].token}"


def test_refs_id_token_code(q):
    t = q.issue("A")
    assert q.get(t.id).id == q.get(t.token).id == q.get("a001").id == q.get(str(t.id)).id == t.id
    for bad in ("A999", "nope", 9999, "", None, "³", "٣"):  # non-ASCII digits: UnknownTicket, not ValueError
        with pytest.raises(UnknownTicket):
            q.get(bad)


def test_series_full_is_a_clear_error_and_changes_nothing(tmp_config, clock, db_path):
    cfg = tmp_config.model_copy(update={"queue": QueueSection(max_number=9, durable_commits=False)})
    q = Queue(connect(db_path), cfg, clock)
    assert [q.issue("A").number for _ in range(9)] == list(range(1, 10))
    before = snapshot(db_path)
    with pytest.raises(SeriesFull, match="series A .*009"):
        q.issue("A")
    assert snapshot(db_path) == before
    assert q.issue("B").code == "B001"  # other series are not affected


def test_full_series_rolls_to_configured_overflow_letter(tmp_config, clock, db_path):
    cfg = tmp_config.model_copy(update={"queue": QueueSection(max_number=9, overflow_series={"A": "E"},
                                                              durable_commits=False)})
    q = Queue(connect(db_path), cfg, clock)
    codes = [q.issue("A").code for _ in range(12)]
    assert codes[8:] == ["A009", "E001", "E002", "E003"]
    e = q.get("E002")
    assert e.service == "A" and e.series == "E"
    for _ in range(6):
        q.issue("A")
    with pytest.raises(SeriesFull, match="A and E"):
        q.issue("A")


# -- call order ---------------------------------------------------------------------------


def test_call_next_priority_first_then_longest_waiting(q, clock):
    a1 = q.issue("A")
    clock.advance(minutes=1)
    a2 = q.issue("A")
    clock.advance(minutes=1)
    p1 = q.issue("A", priority="elderly")
    clock.advance(minutes=1)
    p2 = q.issue("A", priority="pregnant")
    calls = [q.call_next(1, actor="o1", current="no_show").id for _ in range(4)]
    assert calls == [p1.id, p2.id, a1.id, a2.id]
    assert q.call_next(1, actor="o1", current="no_show") is None


def test_call_next_picks_among_the_counters_services(q, clock):
    d1 = q.issue("D")
    clock.advance(seconds=30)
    a1 = q.issue("A")
    clock.advance(seconds=30)
    q.issue("B")
    # counter 2 serves A and D: the longest waiting of both comes first
    assert q.call_next(2, actor="o2").id == d1.id
    assert q.call_next(2, actor="o2", current="serve").id == a1.id
    assert q.call_next(2, actor="o2", current="serve") is None  # B is not served at counter 2
    assert q.call_next(3, actor="o3").code == "B001"


def test_call_next_finishes_the_current_ticket_or_refuses(q):
    a1, a2, a3 = q.issue("A"), q.issue("A"), q.issue("A")
    assert q.call_next(1, actor="o").id == a1.id
    with pytest.raises(CounterBusy, match="A001"):
        q.call_next(1, actor="o", finish_current=False)
    q.start(a1, actor="o")
    assert q.call_next(1, actor="o").id == a2.id
    assert q.get(a1).state == "served"
    assert q.history(a1)[-1].detail["auto"] == "call_next"
    assert q.get(a3).state == "waiting"


def test_next_twice_serves_nobody_issue16(q):
    """Issue 16 (High): 'next' marked a ticket that was only called as served; N, N served two."""
    a1, a2 = q.issue("A"), q.issue("A")
    q.call_next(1, actor="o")
    with pytest.raises(CurrentNotStarted, match="A001"):
        q.call_next(1, actor="o")
    assert q.get(a1).state == "called" and q.get(a2).state == "waiting"
    assert q.list(state="served") == []
    # the console's answers: no-show, or served (the officer says so)
    assert q.call_next(1, actor="o", current="no_show").id == a2.id
    assert q.get(a1).state == "no_show"
    q.call_next(1, actor="o", current="serve")
    assert q.get(a2).state == "served" and q.history(a2)[-1].detail.get("confirmed") is True
    with pytest.raises(InvalidInput):
        q.call_next(1, actor="o", current="whatever")


def test_next_after_the_configured_recalls_is_a_no_show(q):
    t = q.issue("A")
    q.call_next(1, actor="o")
    q.recall(t, actor="o")
    with pytest.raises(CurrentNotStarted):
        q.call_next(1, actor="o")
    q.recall(t, actor="o")  # 2 recalls = cfg.queue.no_show_after_recalls
    assert q.call_next(1, actor="o") is None
    assert q.get(t).state == "no_show" and q.history(t)[-1].detail["recalls"] == 2


def test_call_out_of_order_finishes_the_counters_current_ticket(q):
    """QA: calling a chosen ticket left the counter's called ticket 'called' for ever."""
    a1, a2, a3 = q.issue("A"), q.issue("A"), q.issue("A")
    q.call_next(1, actor="o")
    with pytest.raises(CounterBusy, match="A001"):
        q.call(a3, 1, actor="o", finish_current=False)
    assert q.get(a3).state == "waiting"
    with pytest.raises(CurrentNotStarted):
        q.call(a3, 1, actor="o")
    q.start(a1, actor="o")
    assert q.call(a3, 1, actor="o").state == "called"
    assert q.get(a1).state == "served"
    assert q.history(a1)[-1].detail["auto"] == "call"
    assert q.current_ticket(1).id == a3.id
    assert [t.id for t in q.list(state="called")] == [a3.id]
    # a refused call (the ticket is not waiting) changes nothing, not even the current ticket
    with pytest.raises(InvalidTransition):
        q.call(a1, 1, actor="o")
    assert q.get(a3).state == "called"
    assert q.get(a2).state == "waiting"


def test_closed_or_paused_counter_cannot_call(q, db_path):
    q.issue("A")
    q.set_counter_state(1, "paused", actor="admin")
    before = snapshot(db_path)
    with pytest.raises(CounterClosed, match="counter 1 is paused"):
        q.call_next(1, actor="o")
    q.set_counter_state(1, "closed", actor="admin")
    with pytest.raises(CounterClosed, match="closed"):
        q.call("A001", 1, actor="o")
    assert q.get("A001").state == "waiting"
    assert snapshot(db_path)[0] == before[0]
    q.set_counter_state(1, "open", actor="admin")
    assert q.call_next(1, actor="o").code == "A001"


# -- lifecycle ----------------------------------------------------------------------------


def test_full_lifecycle_is_recorded_with_time_and_actor(q, clock):
    t = q.issue("A", source="kiosk")
    clock.advance(minutes=5)
    t = q.call_next(1, actor="officer:lan")
    assert t.state == "called" and t.counter_id == 1
    clock.advance(seconds=40)
    t = q.recall(t, actor="officer:lan")
    assert t.recalls == 1 and t.state == "called"
    clock.advance(seconds=20)
    t = q.start(t, actor="officer:lan")
    clock.advance(minutes=7)
    t = q.serve(t, actor="officer:lan")
    assert t.state == "served" and t.is_final
    assert (t.finished_at - t.serving_at).total_seconds() == 420
    assert (t.first_called_at - t.issued_at).total_seconds() == 300
    hist = q.history(t)
    assert [(e.kind, e.from_state, e.to_state) for e in hist] == [
        ("issue", None, "waiting"), ("call", "waiting", "called"), ("recall", "called", "called"),
        ("start", "called", "serving"), ("serve", "serving", "served"),
    ]
    assert [e.actor for e in hist] == ["kiosk"] + ["officer:lan"] * 4
    assert all(e.at.tzinfo is not None for e in hist)
    assert (hist[2].at - hist[1].at).total_seconds() == 40


@pytest.mark.parametrize(
    "setup,action",
    [
        ([], "recall"), ([], "start"), ([], "serve"), ([], "no_show"),
        (["call", "serve"], "serve"), (["call", "serve"], "cancel"), (["call", "serve"], "transfer"),
        (["call", "no_show"], "start"), (["cancel"], "call"), (["call", "start"], "no_show"),
        (["call", "start"], "cancel"), (["call"], "call"),
    ],
)
def test_impossible_transitions_raise_and_change_nothing(q, db_path, setup, action):
    t = q.issue("A")
    for step in setup:
        if step == "call":
            q.call(t, 1, actor="o")
        else:
            getattr(q, step)(t, actor="o")
    before = snapshot(db_path)
    with pytest.raises(InvalidTransition, match="A001 is"):
        if action == "call":
            q.call(t, 2, actor="o")
        elif action == "transfer":
            q.transfer(t, service="B", actor="o")
        else:
            getattr(q, action)(t, actor="o")
    assert snapshot(db_path) == before


def test_transfer_keeps_place_and_number(q, clock):
    a1 = q.issue("A")
    clock.advance(minutes=1)
    q.issue("B")
    clock.advance(minutes=1)
    q.issue("B")
    q.call_next(1, actor="o1")
    q.start(a1, actor="o1")
    t = q.transfer(a1, service="B", actor="o1")
    assert (t.state, t.service, t.code, t.transfers, t.counter_id) == ("waiting", "B", "A001", 1, None)
    assert t.queued_at == a1.queued_at and t.token == a1.token
    assert q.position(t) == 0  # issued before both B tickets
    assert q.call_next(3, actor="o3").id == a1.id
    ev = q.history(a1)[-2]
    assert ev.kind == "transfer" and ev.detail["from_service"] == "A" and ev.from_state == "serving"


def test_transfer_to_a_counter_only_that_counter_calls_it(q, clock):
    a1 = q.issue("A")
    clock.advance(minutes=1)
    a2 = q.issue("A")
    q.call_next(1, actor="o1")
    q.transfer(a1, counter=4, actor="o1")  # counter 4 does not even serve A
    assert q.call_next(2, actor="o2").id == a2.id  # counter 2 serves A but not the transferred one
    assert q.call_next(4, actor="o4").id == a1.id
    with pytest.raises(UnknownCounter):
        q.transfer(a2, counter=42, actor="o")
    with pytest.raises(UnknownService):
        q.transfer(a2, service="Q", actor="o")
    with pytest.raises(InvalidInput):
        q.transfer(a2, actor="o")


def test_a_ticket_transferred_to_a_counter_cannot_be_called_out_of_order_elsewhere(q):
    """QA: Queue.call (staff's out-of-order call) ignored the transfer's target counter."""
    a1 = q.issue("A")
    q.transfer(a1, counter=4, actor="o1")
    with pytest.raises(InvalidTransition, match="transferred to counter 4; only that counter can call it"):
        q.call(a1, 1, actor="o1")
    assert q.get(a1).state == "waiting" and q.get(a1).target_counter == 4
    assert q.call(a1, 4, actor="o4").counter_id == 4


def test_state_of_an_unknown_counter_lists_the_counters(q):
    """QA: it said 'to add one give its vi and en names, services and waypoint' (update_counter's
    words), which a state change cannot do."""
    with pytest.raises(UnknownCounter, match=r"^there is no counter 9 \(counters: 1, 2, 3, 4\)$"):
        q.set_counter_state(9, "open", actor="admin")


def test_cancel_and_no_show(q):
    a1, a2 = q.issue("A"), q.issue("A")
    assert q.cancel(a1, actor="kiosk").state == "cancelled"
    t = q.call_next(1, actor="o")
    assert t.id == a2.id
    assert q.no_show(t, actor="o").state == "no_show"
    assert q.call_next(1, actor="o") is None


# -- bad input ----------------------------------------------------------------------------


def test_bad_input_gets_specific_errors_and_changes_nothing(q, db_path):
    q.issue("A")
    before = snapshot(db_path)
    with pytest.raises(UnknownService, match="no service 'Z'.*A, B, C, D"):
        q.issue("Z")
    with pytest.raises(UnknownPriority, match="no priority group 'vip'"):
        q.issue("A", priority="vip")
    with pytest.raises(InvalidInput, match="language"):
        q.issue("A", lang="fr")
    with pytest.raises(UnknownCounter, match="no counter 9"):
        q.call_next(9, actor="o")
    with pytest.raises(InvalidInput, match="actor"):
        q.call_next(1, actor="")
    with pytest.raises(InvalidInput, match="counter state"):
        q.set_counter_state(1, "broken", actor="a")
    with pytest.raises(UnknownCounter):
        q.set_counter_state(7, "open", actor="a")
    with pytest.raises(InvalidInput, match="ticket state"):
        q.list(state="lost")
    assert snapshot(db_path) == before


def test_service_closed_says_when_it_opens(q, clock, db_path):
    clock.set(datetime(2026, 11, 25, 5, 0, tzinfo=UTC))  # 12:00 local, lunch break
    before = snapshot(db_path)
    with pytest.raises(ServiceClosed) as err:
        q.issue("A")
    assert err.value.opens_at == datetime(2026, 11, 25, 13, 30, tzinfo=q.tz)
    assert "opens at 13:30 on Wed 25/11/2026" in str(err.value)
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # Saturday 17:00: next is Monday 07:30
    with pytest.raises(ServiceClosed) as err:
        q.issue("B")
    assert err.value.opens_at == datetime(2026, 11, 30, 7, 30, tzinfo=q.tz)
    assert snapshot(db_path) == before
    assert q.issue("A", ignore_hours=True, source="staff").code == "A001"  # staff override


def test_public_holidays_are_closed_days(q, clock):
    clock.set(datetime(2026, 2, 13, 10, 0, tzinfo=UTC))  # Friday before Tết, 17:00 local
    with pytest.raises(ServiceClosed) as err:
        q.issue("A")
    # data/holidays.yaml: Tết Bính Ngọ 14-22/02/2026, so the next opening is Monday 23/02
    assert err.value.opens_at == datetime(2026, 2, 23, 7, 30, tzinfo=q.tz)
    clock.set(datetime(2026, 2, 17, 2, 0, tzinfo=UTC))  # Tuesday 09:00 during Tết
    assert q.is_open("A") == (False, datetime(2026, 2, 23, 7, 30, tzinfo=q.tz))


def test_make_up_working_saturday_has_monday_hours(q, clock, tmp_path):
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text("years:\n  2026:\n    holidays: [{date: 2026-11-27, name: X}]\n"
                        "    working_days: [{date: 2026-11-28, name: Làm bù}]\n", encoding="utf-8")
    paths = q.cfg.paths.model_copy(update={"holidays": holidays})
    q.cfg = q.cfg.model_copy(update={"paths": paths})
    clock.set(datetime(2026, 11, 28, 7, 0, tzinfo=UTC))  # Saturday 14:00: Monday's afternoon hours
    assert q.is_open("A") == (True, None)
    clock.set(datetime(2026, 11, 26, 11, 0, tzinfo=UTC))  # Thursday 18:00: Friday 27 is off
    assert q.is_open("A") == (False, datetime(2026, 11, 28, 7, 30, tzinfo=q.tz))
    holidays.write_text("years: [broken", encoding="utf-8")  # a broken file never stops tickets
    clock.set(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    assert q.is_open("A") == (True, None)


def test_service_closed_by_admin(q):
    q.update_service("C", actor="admin", closed=True)
    with pytest.raises(ServiceClosed, match="closed now$") as err:
        q.issue("C")
    assert err.value.opens_at is None
    q.update_service("C", actor="admin", closed=False)
    assert q.issue("C").code == "C001"


def test_read_only_database_gives_storage_error_and_changes_nothing(q, cfg, clock, db_path):
    q.issue("A")
    q.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = snapshot(db_path)
    ro = Queue(connect(db_path, read_only=True), cfg, clock)
    assert ro.get("A001").state == "waiting"  # reading still works
    with pytest.raises(QueueStorageError, match="read-only"):
        ro.issue("A")
    with pytest.raises(QueueStorageError, match="read-only"):
        ro.call_next(1, actor="o")
    assert snapshot(db_path) == before


def test_locked_database_gives_storage_error_and_changes_nothing(q, db_path):
    q.issue("A")
    q.conn.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(QueueStorageError, match="locked"):
            q.issue("A")
        with pytest.raises(QueueStorageError, match="locked"):
            q.call_next(1, actor="o")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [t.code for t in q.list()] == ["A001"]
    assert q.issue("A").code == "A002"  # works again once the lock is gone


def test_locked_at_open_of_a_new_queue_is_storage_error(cfg, clock, db_path):
    conn = connect(db_path)
    conn.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(QueueStorageError):
            Queue(conn, cfg, clock)
    finally:
        other.execute("ROLLBACK")
        other.close()


# -- day rollover -------------------------------------------------------------------------


def test_day_rollover_restarts_numbers_and_expires_yesterday(q, clock, cfg, db_path):
    y1, y2, y3 = q.issue("A"), q.issue("A"), q.issue("B")
    q.call_next(1, actor="o")  # y1 called, never finished
    clock.set(datetime(2026, 11, 26, 0, 45, tzinfo=UTC))  # Thu 07:45 local
    other = Queue(connect(db_path), cfg, clock)  # e.g. the staff server's process
    assert other.call_next(3, actor="o") is None  # yesterday's B001 is not callable
    t = other.issue("A")
    assert t.code == "A001" and t.day == "2026-11-26"
    assert [q.get(x.id).state for x in (y1, y2, y3)] == ["expired", "expired", "expired"]
    assert q.history(y2)[-1].detail == {"reason": "day_end"}
    assert q.call_next(1, actor="o").id == t.id
    assert q.waiting_counts() == {"A": 0, "B": 0, "C": 0, "D": 0}


def test_day_boundary_is_local_midnight(q, clock):
    clock.set(datetime(2026, 11, 25, 16, 59, tzinfo=UTC))  # 23:59 local on the 25th
    assert q.issue("A", ignore_hours=True).day == "2026-11-25"
    clock.set(datetime(2026, 11, 25, 17, 0, tzinfo=UTC))  # 00:00 local on the 26th
    t = q.issue("A", ignore_hours=True)
    assert (t.day, t.code) == ("2026-11-26", "A001")


def test_expire_day_by_hand(q, clock):
    q.issue("A")
    clock.advance(days=1)
    assert q.expire_day(actor="admin") == 1
    assert q.expire_day(actor="admin") == 0
    assert q.list(day="2026-11-25")[0].state == "expired"


# -- estimates ----------------------------------------------------------------------------


def test_position_and_estimate_default_then_rolling_mean(q, clock):
    tickets = [q.issue("B") for _ in range(4)]  # B: counter 3 only, default 12 min
    assert [q.position(t) for t in tickets] == [0, 1, 2, 3]
    assert q.estimate_wait_min(tickets[3]) == 36.0
    t = q.call_next(3, actor="o")
    q.start(t, actor="o")
    clock.advance(minutes=6)
    q.serve(t, actor="o")
    assert q.mean_service_min("B") == 6.0
    # 2 ahead of the last one, counter idle: 2 x 6 min
    assert q.position(tickets[3]) == 2 and q.estimate_wait_min(tickets[3]) == 12.0
    q.call_next(3, actor="o")  # counter busy: add half a service time
    assert q.estimate_wait_min(tickets[3]) == 9.0
    assert q.estimate_wait_min(tickets[1]) == 0.0  # called: no more waiting


def test_estimate_divides_by_open_counters(q):
    tickets = [q.issue("A") for _ in range(5)]  # A: counters 1 and 2, default 8 min
    assert q.estimate_wait_min(tickets[4]) == 16.0
    q.set_counter_state(2, "paused", actor="a")
    assert q.estimate_wait_min(tickets[4]) == 32.0


def test_priority_ticket_has_only_priority_tickets_ahead(q):
    for _ in range(5):
        q.issue("A")
    p = q.issue("A", priority="disability")
    assert q.position(p) == 0
    st = q.status(p)
    assert st.ahead == 0 and [c.id for c in st.counters] == [1, 2]
    assert q.waiting_counts()["A"] == 6


# -- runtime overrides, events ------------------------------------------------------------


def test_counter_and_service_overrides_are_audited(q):
    q.update_counter(3, actor="admin:hoa", services=["B", "C"], name_vi="Quầy 3 (đất đai)")
    c = q.counter(3)
    assert c.services == ("B", "C") and c.name_vi == "Quầy 3 (đất đai)" and c.name_en == "Counter 3"
    assert c.waypoint == "counter_3" and (c.x, c.y) == (16.0, 11.0)
    q.issue("C")
    assert q.call_next(3, actor="o").code == "C001"
    q.update_service("A", actor="admin:hoa", target_wait_min=10, opening_hours={"wed": ["06:00-07:00"]})
    with pytest.raises(ServiceClosed, match="06:00 on Wed 02/12/2026"):
        q.issue("A")  # Wednesday 09:00 is now outside A's only hours: next week
    audit = q.settings_audit()
    assert [(a["kind"], a["key"], a["actor"]) for a in audit] == [("service", "A", "admin:hoa"),
                                                                   ("counter", "3", "admin:hoa")]
    assert audit[1]["before"]["services"] == ["B"] and audit[1]["after"]["services"] == ["B", "C"]
    assert audit[0]["before"]["target_wait_min"] == 15 and audit[0]["after"]["target_wait_min"] == 10


@pytest.mark.parametrize("hours, message", [
    ({"mon": ["garbage"]}, "opening hours not valid: mon: 'garbage' is not a time span like '07:30-11:30'"),
    ({"mon": ["11:00-08:00"]}, "opening hours not valid: mon: '11:00-08:00' ends before it starts"),
    ({"monday": []}, "opening hours not valid: monday: Extra inputs are not permitted"),
])
def test_bad_opening_hours_name_the_day_in_one_plain_line(q, hours, message):
    """QA: the admin page showed pydantic's whole dump (type=value_error, input_value=..., a URL)."""
    with pytest.raises(InvalidInput) as err:
        q.update_service("A", actor="admin", opening_hours=hours)
    assert str(err.value) == message
    assert q.settings_audit() == []


def test_counters_and_services_added_at_runtime(q):
    q.update_service("F", actor="admin", name_vi="Tư pháp", name_en="Justice", default_service_min=5)
    with pytest.raises(ServiceClosed, match="no counter serves service F"):
        q.issue("F")
    with pytest.raises(UnknownCounter, match="to add one"):
        q.update_counter(5, actor="admin", services=["F"])
    q.update_counter(5, actor="admin", name_vi="Quầy 5", name_en="Counter 5", services=["F"],
                     waypoint="counter_4", state="open")
    t = q.issue("F")
    assert q.call_next(5, actor="o").id == t.id
    assert [c.id for c in q.counters()][-1] == 5
    with pytest.raises(InvalidInput, match="floor map"):
        q.update_counter(5, actor="admin", waypoint="mars")
    with pytest.raises(UnknownService):
        q.update_counter(5, actor="admin", services=["Y"])
    with pytest.raises(InvalidInput):
        q.update_service("ab", actor="admin", name_vi="x", name_en="y")


def test_events_stream_every_change_in_order(q):
    start = q.last_event_id()
    t = q.issue("A")
    q.call_next(1, actor="o")
    q.set_counter_state(4, "paused", actor="admin")
    evs = q.events(since_id=start)
    assert [e.kind for e in evs] == ["issue", "call", "counter_state"]
    assert evs[0].ticket_id == t.id and evs[2].counter_id == 4 and evs[2].to_state == "paused"
    assert q.events(since_id=evs[-1].id) == []
    assert evs[1].to_dict()["at"].endswith("+00:00")


def test_ticket_to_dict(q):
    d = q.issue("A", procedure_key="1.000894").to_dict()
    assert d["code"] == "A001" and d["status_path"].startswith("/t/") and d["procedure_key"] == "1.000894"
    assert d["issued_at"].endswith("+00:00")


def test_queue_open_on_unwritable_place_is_storage_error(tmp_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(QueueStorageError):
        Queue.open(tmp_config, path=blocker / "sub" / "centre.db")


def test_public_status_and_recent_calls(q, clock):
    a1, a2 = q.issue("A"), q.issue("A", lang="en")
    pub = q.public_status(a2.token, "en")
    assert pub["code"] == "A002" and pub["ahead"] == 1 and pub["wait_min"] == 4.0
    assert pub["service_name"] == "Civil status and certification" and pub["issued_local"] == "09:00 25/11/2026"
    assert "id" not in pub and "token" not in pub and pub["called_counter"] is None
    clock.advance(minutes=1)
    q.call_next(2, actor="o")
    clock.advance(minutes=1)
    q.call_next(1, actor="o")
    pub = q.public_status(a2.token)
    assert pub["state"] == "called" and pub["called_counter"] == 1 and pub["counters"][0]["name"] == "Quầy 1"
    assert [t.code for t in q.recent_calls()] == ["A002", "A001"]
    with pytest.raises(UnknownTicket):
        q.public_status("not-a-token")
    clock.advance(days=1)
    q.issue("B")
    assert q.public_status(a1.token)["expired"] and q.recent_calls() == []


def test_failed_issue_does_not_skip_the_day_end_expiry(tmp_config, clock, db_path):
    cfg = tmp_config.model_copy(update={"queue": QueueSection(max_number=9, durable_commits=False)})
    q = Queue(connect(db_path), cfg, clock)
    yesterday = q.issue("B")
    clock.advance(days=1)
    other = Queue(connect(db_path), cfg, clock)
    for _ in range(9):
        other.issue("A")  # another process fills A today (and expires yesterday's ticket)
    assert q.get(yesterday).state == "expired"
    yesterday = q.issue("C")
    clock.advance(days=1)
    with other._tx() as c:  # today's A numbers are used up by hand, without expiring anything
        for n in range(1, 10):
            c.execute("INSERT INTO tickets(token, day, series, number, service, origin_service, issued_at, "
                      "queued_at) VALUES (?, ?, 'A', ?, 'A', 'A', 0, 0)", (f"tok{n}", q.today(), n))
    with pytest.raises(SeriesFull):
        q.issue("A")  # rolled back, its expiry of yesterday included
    assert q.get(yesterday).state == "waiting"
    q.issue("B")  # so the next change still expires yesterday's ticket
    assert q.get(yesterday).state == "expired"


def test_ticket_tokens_never_start_with_a_dash(monkeypatch):
    """A token pasted into `kiosk ticket no-show TOKEN` must not read as an option."""
    from centre import queue as queue_module

    made = iter(["-leading", "_ok-token"])
    monkeypatch.setattr(queue_module.secrets, "token_urlsafe", lambda n: next(made))
    assert queue_module.ticket_token() == "_ok-token"
    monkeypatch.undo()
    assert not any(queue_module.ticket_token().startswith("-") for _ in range(2000))

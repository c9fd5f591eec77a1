"""The queue interface (issue 16): the local `Queue` and the remote kiosk's `RemoteQueue` implement
`centre.queue_api.QueueAPI` and pass the same scenarios: summary, forecast, idempotent issue,
honest "call next", actors and opening hours."""

from __future__ import annotations

from datetime import timedelta

import pytest
from staff_helpers import OPEN_TIME

from centre import queue as q
from centre import users
from centre.clock import FixedClock
from centre.db import connect
from centre.queue_api import Forecast, QueueAPI, ServiceState
from centre.tickets import wait_text
from staff.client import RemoteQueue
from staff.server import free_port, start_in_thread

ACTOR = "officer:lan"


@pytest.fixture(scope="module")
def remote_server(tmp_path_factory):
    from pathlib import Path

    from centre.config import parse_config

    root = Path(__file__).resolve().parent.parent
    tmp = tmp_path_factory.mktemp("qapi")
    text = (root / "config.yaml").read_text(encoding="utf-8").replace('data_dir: "var"', f'data_dir: "{tmp}/var"')
    cfg = parse_config(text, base_dir=root, source=root / "config.yaml")
    clock = FixedClock(OPEN_TIME)
    handle = start_in_thread(cfg, host="127.0.0.1", port=free_port(), clock=clock, db_path=tmp / "server.db")
    conn = connect(tmp / "server.db")
    admin = users.create_user(conn, "boss", "admin", "admin-pass-1x")
    token = users.create_api_token(conn, admin.id, "test")
    conn.close()
    yield handle, token, clock, tmp / "server.db", cfg
    handle.stop()


@pytest.fixture(params=["local", "remote"])
def impl(request, tmp_config, tmp_path):
    """(queue, server-side Queue for checks, clock, actor the events record)."""
    if request.param == "local":
        clock = FixedClock(OPEN_TIME)
        qu = q.Queue(connect(tmp_path / "local.db"), tmp_config, clock)
        yield qu, qu, clock, ACTOR
        return
    handle, token, clock, db, cfg = request.getfixturevalue("remote_server")
    clock.set(OPEN_TIME)
    server_q = q.Queue(connect(db), cfg, clock)
    with server_q._tx() as c:  # a fresh day for every scenario: earlier tickets gone
        for table in ("ticket_requests", "queue_events", "tickets", "counter_settings"):
            c.execute(f"DELETE FROM {table}")
    rq = RemoteQueue(handle.url, token, cfg=cfg, retries=0)
    yield rq, server_q, clock, f"admin:boss/{ACTOR}"
    rq.close()


def test_both_implement_the_protocol(impl):
    qu, _, _, _ = impl
    assert isinstance(qu, QueueAPI)
    for name in ("summary", "forecast", "issue", "by_token", "history", "call_next", "transfer"):
        assert callable(getattr(qu, name))


def test_summary_is_one_list_of_service_states(impl):
    qu, server, _, _ = impl
    qu.issue("A")
    qu.issue("A")
    states = {s.series: s for s in qu.summary()}
    assert set(states) == {"A", "B", "C", "D"}
    a = states["A"]
    assert isinstance(a, ServiceState) and a.state == "open" and a.waiting == 2
    assert a.forecast.ahead == 2 and a.forecast.open_counters == 2 and a.forecast.minutes >= 1
    assert a.forecast.low <= a.forecast.minutes <= a.forecast.high
    # the remote answer equals the local computation
    assert a.forecast == server.forecast("A")
    assert ServiceState.from_dict(a.to_dict()) == a
    server.set_counter_state(3, "paused", actor="admin")
    assert {s.series: s.state for s in qu.summary()}["B"] == "paused"


def test_summary_closed_with_next_opening(impl):
    qu, _, clock, _ = impl
    clock.set(OPEN_TIME.replace(hour=20))
    a = {s.series: s for s in qu.summary()}["A"]
    assert a.state == "closed" and a.opens_at is not None and a.opens_at > clock.now()
    assert not a.can_issue


def test_forecast_of_new_and_issued_ticket_agree(impl):
    qu, _, _, _ = impl
    t1 = qu.issue("A")
    before = qu.forecast("A")
    t2 = qu.issue("A")
    assert before.ahead == 1
    of_t2 = qu.forecast(ticket=t2)
    assert of_t2.ahead == 1 and of_t2.minutes == before.minutes
    assert qu.status(t2).forecast == of_t2
    assert qu.forecast(ticket=t1).ahead == 0
    assert qu.forecast("A", priority="elderly").ahead == 0  # nobody with priority waits
    assert wait_text(of_t2, "vi") == f"khoảng {of_t2.minutes} phút"


def test_same_idempotency_key_same_ticket(impl):
    qu, server, _, _ = impl
    t1 = qu.issue("A", idempotency_key="tap-123")
    t2 = qu.issue("A", idempotency_key="tap-123")
    assert t1.id == t2.id and t1.code == t2.code
    t3 = qu.issue("A", idempotency_key="tap-124")
    assert t3.id != t1.id
    assert len(server.list()) == 2


def test_double_next_serves_nobody(impl):
    qu, server, _, actor = impl
    first = qu.issue("A")
    qu.issue("A")
    called = qu.call_next(1, actor=ACTOR)
    assert called.id == first.id
    with pytest.raises(q.CurrentNotStarted) as err:
        qu.call_next(1, actor=ACTOR)
    assert err.value.code == first.code
    assert server.get(first.id).state == "called"
    assert not server.list(state="served")
    # the officer answers "no-show": the next ticket is called
    nxt = qu.call_next(1, actor=ACTOR, current="no_show")
    assert server.get(first.id).state == "no_show" and nxt.state == "called"
    # started, then next: served (the honest case)
    qu.start(nxt, actor=ACTOR)
    qu.call_next(1, actor=ACTOR)
    assert server.get(nxt.id).state == "served"
    assert [e.actor for e in server.history(nxt.id)][-1] == actor


def test_an_answer_names_its_ticket_so_a_repeated_click_never_finishes_the_next(impl):
    """docs/queue.md, current_code: the officer's "no-show" names the ticket it is about. The same
    answer sent again (a second officer's click, a double click, a retry) finds another ticket at the
    counter and asks about it instead of marking the citizen just called as a no-show, locally and
    across the real HTTP path (RemoteQueue → staff server → Queue)."""
    qu, server, _, _ = impl
    first, second, third, fourth = (qu.issue("A") for _ in range(4))
    qu.call_next(1, actor=ACTOR)
    with pytest.raises(q.CurrentNotStarted) as err:
        qu.call_next(1, actor=ACTOR)
    assert err.value.code == first.code and err.value.counter_id == 1
    answer = {"current": "no_show", "current_code": err.value.code}
    assert qu.call_next(1, actor=ACTOR, **answer).id == second.id
    assert server.get(first.id).state == "no_show"
    with pytest.raises(q.CurrentNotStarted) as again:
        qu.call_next(1, actor=ACTOR, **answer)
    assert again.value.code == second.code and server.get(second.id).state == "called"
    # call (one chosen ticket) the same way
    answer = {"current": "serve", "current_code": second.code}
    assert qu.call(fourth, 1, actor=ACTOR, **answer).id == fourth.id
    assert server.get(second.id).state == "served"
    with pytest.raises(q.CurrentNotStarted) as third_time:
        qu.call(third, 1, actor=ACTOR, **answer)
    assert third_time.value.code == fourth.code
    assert server.get(fourth.id).state == "called" and server.get(third.id).state == "waiting"


def test_remote_answer_names_the_ticket_it_was_asked_about(remote_server):
    """A RemoteQueue caller answers CurrentNotStarted with `current` alone (as the CLI-style callers
    and the tests above do): RemoteQueue sends the code the server asked about, as the console
    does, so the same answer sent twice (two officers' clicks racing, a retry) asks about the ticket
    the first answer called instead of marking that citizen a no-show a second after the call."""
    handle, token, clock, db, cfg = remote_server
    clock.set(OPEN_TIME)
    server = q.Queue(connect(db), cfg, clock)
    with server._tx() as c:
        for table in ("ticket_requests", "queue_events", "tickets", "counter_settings"):
            c.execute(f"DELETE FROM {table}")
    with RemoteQueue(handle.url, token, cfg=cfg, retries=0) as one, RemoteQueue(handle.url, token, cfg=cfg,
                                                                                 retries=0) as two:
        first, second, third = (one.issue("A") for _ in range(3))
        one.call_next(1, actor=ACTOR)
        for officer in (one, two):  # both are asked about A001
            with pytest.raises(q.CurrentNotStarted):
                officer.call_next(1, actor=ACTOR)
        assert one.call_next(1, actor=ACTOR, current="no_show").id == second.id
        with pytest.raises(q.CurrentNotStarted) as err:  # the second officer's "no-show" was about A001
            two.call_next(1, actor=ACTOR, current="no_show")
        assert err.value.code == second.code
        assert server.get(first.id).state == "no_show" and server.get(second.id).state == "called"
        # asked again, the answer is about A002 now; then a chosen ticket the same way
        assert two.call(third, 1, actor=ACTOR, current="serve").id == third.id
        assert server.get(second.id).state == "served"
        with pytest.raises(q.CurrentNotStarted):
            one.call_next(1, actor=ACTOR)
        one.call_next(1, actor=ACTOR, current="no_show")  # asked about A003: it is the one finished
        assert server.get(third.id).state == "no_show"
        # an answer nobody asked for keeps the old meaning (whatever the counter holds)
        fourth = one.issue("A")
        two.call(fourth, 1, actor=ACTOR)
        assert two.call_next(1, actor=ACTOR, current="serve") is None and server.get(fourth.id).state == "served"
    server.conn.close()


def test_next_after_configured_recalls_is_a_no_show(impl):
    qu, server, _, _ = impl
    t = qu.issue("A")
    qu.call_next(1, actor=ACTOR)
    for _ in range(server.cfg.queue.no_show_after_recalls):
        qu.recall(t, actor=ACTOR)
    assert qu.call_next(1, actor=ACTOR) is None
    assert server.get(t.id).state == "no_show"


def test_confirmed_serve_of_a_called_ticket(impl):
    qu, server, _, _ = impl
    t = qu.issue("A")
    qu.call_next(1, actor=ACTOR)
    qu.call_next(1, actor=ACTOR, current="serve")
    assert server.get(t.id).state == "served"


def test_actor_and_hours_are_honoured(impl):
    qu, server, clock, actor = impl
    clock.set(OPEN_TIME.replace(hour=20))
    with pytest.raises(q.ServiceClosed) as err:
        qu.issue("A")
    assert err.value.opens_at is not None
    t = qu.issue("A", ignore_hours=True, actor=ACTOR, source="staff")
    ev = server.history(t.id)[0]
    assert ev.kind == "issue" and ev.actor == actor
    clock.set(OPEN_TIME + timedelta(minutes=1))


def test_lookup_and_lifecycle(impl):
    qu, server, _, _ = impl
    t = qu.issue("A")
    token = server.get(t.id).token
    assert qu.by_token(token).id == t.id
    with pytest.raises(q.UnknownTicket):
        qu.by_token(str(t.id))
    assert qu.position(t) == 0
    moved = qu.transfer(t, service="B", actor=ACTOR)
    assert moved.service == "B" and moved.transfers == 1
    assert [x.id for x in qu.list(state="waiting")] == [t.id]
    qu.cancel(t, actor=ACTOR)
    assert [e.kind for e in qu.history(t)] == ["issue", "transfer", "cancel"]


def test_forecast_rounding_and_text():
    assert Forecast.from_estimate("A", 0, 1, 0.4).minutes == 0
    f = Forecast.from_estimate("A", 3, 2, 12.1)
    assert (f.minutes, f.low, f.high) == (13, 9, 20)
    assert Forecast.from_dict(f.to_dict()) == f
    assert wait_text(f, "en") == "about 13 min"
    assert wait_text(Forecast.from_estimate("A", 0, 1, 0.0), "vi") == "sắp đến lượt"

"""robot/link.py against the simulator over a real pty or TCP socket: no mock of pyserial (issue 5)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pynmea2
import pytest

from robot import protocol as p
from robot.link import GoalEnded, LinkConfigError, LinkDown, LinkDownError, LinkUp, RobotLink, RobotTimeout
from robot.sim import Faults, SimServer, make_robot


class Recorder:
    """Collects link events; lets a test wait for one."""

    def __init__(self):
        self.events: list = []
        self.cond = threading.Condition()

    def __call__(self, ev):
        with self.cond:
            self.events.append((time.monotonic(), ev))
            self.cond.notify_all()

    def wait(self, pred, timeout: float):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, ev in self.events:
                    if pred(ev):
                        return t, ev
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


@pytest.fixture
def sim(project_config):
    s = SimServer(make_robot(project_config, speed_mps=20, dock_s=0.1, boot_s=0.1)).start()
    yield s
    s.stop()


def open_link(port: str, **kw) -> tuple[RobotLink, Recorder]:
    rec = Recorder()
    link = RobotLink(port, name="r1", on_event=rec, **kw).start()
    return link, rec


def test_hello_then_commands_over_a_real_pty(sim):
    sent: list[bytes] = []
    link, rec = open_link(sim.port, on_frame=lambda d, raw: sent.append(raw) if d == "->" else None)
    try:
        assert link.wait_up(3)
        up = rec.wait(lambda e: isinstance(e, LinkUp), 1)[1]
        assert up.hello.version == p.PROTOCOL_VERSION and up.hello.model == "XVK-SIM"
        ack = link.command("GOTO", "counter_2")
        assert ack.code is p.AckCode.ACCEPTED
        ended = rec.wait(lambda e: isinstance(e, GoalEnded) and e.goal_id == ack.cmd_id, 5)
        assert ended and ended[1].status is p.GoalStatus.SUCCEEDED
        assert link.command("GOTO", "nowhere") == p.Ack(link._next_id - 1, p.AckCode.DENIED, "UNKNOWN_WAYPOINT")
        time.sleep(1.1)  # at least one kiosk heartbeat
    finally:
        link.stop()
    assert sim.robot.verbs["HELLO"] >= 1 and sim.robot.verbs["STATQ"] >= 1
    kinds = Counter(p.decode_frame(raw).type for raw in sent)
    assert kinds["HB"] >= 1 and kinds["GOTO"] >= 2 and kinds["HELLO"] >= 1
    for raw in sent:  # every frame the kiosk really sent is a valid NMEA proprietary sentence
        msg = pynmea2.parse(raw.decode("ascii").strip(), check=True)
        assert msg.manufacturer == "XVK" and len(raw) <= 82


def test_over_tcp_socket(project_config):
    with SimServer(make_robot(project_config, speed_mps=20), tcp_port=0) as s:
        link, rec = open_link(s.port)
        try:
            assert s.port.startswith("socket://") and link.wait_up(3)
            assert link.command("DOCK").code is p.AckCode.ACCEPTED
            s.unplug()
            assert rec.wait(lambda e: isinstance(e, LinkDown), 3)
            s.replug()
            link._up_event.clear()
            assert link.wait_up(5)
        finally:
            link.stop()


def test_spy_url_logs_the_traffic(sim, tmp_path):
    log = tmp_path / "spy.txt"
    link, _ = open_link(f"spy://{sim.port}?file={log}")
    try:
        assert link.wait_up(3)
        link.command("STATQ")
    finally:
        link.stop()
    text = log.read_text()
    assert "$PXVK," in text and "TX" in text and "RX" in text  # pyserial's hex dump of both directions


def test_loop_url_echo_is_dropped_not_crashing():
    link, rec = open_link("loop://", heartbeat_s=0.1)
    try:
        time.sleep(0.4)
        assert link.connected and not link.up
        # our own HELLO/HB came back: an HB without a state is unusable, the HELLO is no version we speak
        assert link.stats.bad_fields >= 1 and link.incompatible
        with pytest.raises(LinkDownError):
            link.command("GOTO", "kiosk")
    finally:
        link.stop()


def test_second_kiosk_cannot_open_the_same_port(sim):
    a, _ = open_link(sim.port)
    try:
        assert a.wait_up(3)
        b, _ = open_link(sim.port)
        try:
            time.sleep(0.5)
            assert not b.up and "in use by another program" in (b.last_error or "")
        finally:
            b.stop()
        assert a.up
    finally:
        a.stop()


def test_wrong_url_is_a_clear_config_error():
    with pytest.raises(LinkConfigError, match="bogus"):
        RobotLink("bogus://robot").start()


def test_missing_device_keeps_trying_and_says_why(tmp_path):
    link, _ = open_link(str(tmp_path / "ttyUSB9"))
    try:
        time.sleep(0.3)
        assert not link.up and "does not exist" in link.last_error
        with pytest.raises(LinkDownError):
            link.command("STATQ")
    finally:
        link.stop()


def test_unplug_detected_at_once_and_recovered_after_replug(sim):
    link, rec = open_link(sim.port)
    try:
        assert link.wait_up(3)
        t0 = time.monotonic()
        sim.unplug()
        down = rec.wait(lambda e: isinstance(e, LinkDown), 3)
        assert down and down[0] - t0 < 3.0
        time.sleep(1.0)
        hellos = sim.robot.verbs["HELLO"]
        t1 = time.monotonic()
        sim.replug()
        up = rec.wait(lambda e: isinstance(e, LinkUp) and e is not rec.events[0][1], 5)
        assert up and up[0] - t1 < 2.0
        assert link.command("STATQ").code is p.AckCode.ACCEPTED  # HELLO then STATUS after reopening
        assert sim.robot.verbs["HELLO"] > hellos
    finally:
        link.stop()


def test_silent_robot_means_link_down_within_3s(sim):
    link, rec = open_link(sim.port)
    try:
        assert link.wait_up(3)
        t0 = time.monotonic()
        sim.set_stalled(True)
        down = rec.wait(lambda e: isinstance(e, LinkDown), 4)
        assert down and down[0] - t0 <= 3.2
        with pytest.raises(LinkDownError):
            link.command("STATQ")
    finally:
        link.stop()


def test_commands_time_out_then_link_down_when_robot_is_silent(project_config):
    """A robot that hears nothing we send but still talks: commands time out, the link stays up."""
    with SimServer(make_robot(project_config), faults=Faults()) as s:
        link, _ = open_link(s.port, ack_timeout_s=0.1, retries=2)
        try:
            assert link.wait_up(3)
            s.faults.drop = 1.0  # both ways: silence
            with pytest.raises((RobotTimeout, LinkDownError)):
                link.command("STATQ")
            assert link.stats.retries >= 2
        finally:
            link.stop()


@pytest.mark.slow
def test_100_goal_commands_with_corruption_and_drops_all_complete_exactly_once(project_config):
    """10 % of frames corrupted and 5 % dropped, both ways: every command lands once (issue 5)."""
    faults = Faults(drop=0.05, corrupt=0.10, seed=11)
    robot = make_robot(project_config, faults=faults, speed_mps=1000, heartbeat_s=0.2, missed_heartbeats=15)
    ended: dict[int, threading.Event] = {}
    results: dict[int, p.GoalStatus] = {}

    def on_event(ev):
        if isinstance(ev, GoalEnded):
            results[ev.goal_id] = ev.status
            ended.setdefault(ev.goal_id, threading.Event()).set()

    with SimServer(robot, faults=faults) as s:
        link = RobotLink(s.port, on_event=on_event).start()
        try:
            assert link.wait_up(5)
            ids = []
            for i in range(100):
                cid = link.new_id()
                ended.setdefault(cid, threading.Event())
                ids.append(cid)
                for _ in range(3):  # same id again while the robot is heard, as the escort manager does
                    try:
                        ack = link.send("GOTO", ("counter_1", "counter_2")[i % 2], cmd_id=cid).result(5)
                        break
                    except RobotTimeout:
                        continue
                assert ack.code is p.AckCode.ACCEPTED, ack
                assert ended[cid].wait(3), f"goal {cid} never reported"
            stats = link.stats
        finally:
            link.stop()
    assert all(results[c] is p.GoalStatus.SUCCEEDED for c in ids)
    assert [robot.executed[c] for c in ids] == [1] * 100  # none executed twice
    assert s.stats["corrupted_in"] > 0 and s.stats["corrupted_out"] > 0 and s.stats["dropped_out"] > 0
    assert stats.dropped["checksum"] > 0 and stats.retries > 0


def test_fakerobot_url_runs_a_simulator_behind_a_serial_port():
    from robot.urlhandler import protocol_fakerobot

    url = "fakerobot://robot-1?speed=25&dock_s=0.1&block=counter_3"
    link, rec = open_link(url)
    try:
        assert link.wait_up(3) and link.hello.speed_mps == 25.0
        bad = link.command("GOTO", "counter_3")
        assert bad.code is p.AckCode.ACCEPTED
        ended = rec.wait(lambda e: isinstance(e, GoalEnded) and e.goal_id == bad.cmd_id, 5)[1]
        assert ended.status is p.GoalStatus.ABORTED and ended.reason == "BLOCKED"
        assert protocol_fakerobot.simulator_for(url).robot.faults.block == {"counter_3"}
    finally:
        link.stop()
        protocol_fakerobot.stop_simulators()


def test_fakerobot_url_with_a_bad_option_is_a_config_error():
    link = RobotLink("fakerobot://?colour=red")
    link.start()  # the handler parses options only when opening
    try:
        time.sleep(0.3)
        assert not link.up and "unknown option 'colour'" in link.last_error
    finally:
        link.stop()


def test_delayed_robot_answers_still_arrive_within_the_ack_timeout(project_config):
    faults = Faults(delay_ms=120)
    with SimServer(make_robot(project_config), faults=faults) as s:
        link, _ = open_link(s.port)
        try:
            assert link.wait_up(3)
            retries, t = link.stats.retries, time.monotonic()
            assert link.command("STATQ").code is p.AckCode.ACCEPTED
            assert 0.1 <= time.monotonic() - t < 0.5 and link.stats.retries == retries
        finally:
            link.stop()

"""robot/escort.py driving the simulated robot over a real pty: the visitor's side of every fault (issue 5)."""

from __future__ import annotations

import threading
import time

import pytest

from robot import protocol as p
from robot.escort import (
    EscortError,
    EscortFailed,
    EscortManager,
    EscortQueued,
    FollowRobot,
    RobotComing,
    event_from_dict,
)
from robot.sim import Faults, SimServer, make_robot


class Events:
    """Records manager events and waits for them."""

    def __init__(self):
        self.items: list[tuple[float, object]] = []
        self.cond = threading.Condition()

    def __call__(self, ev):
        with self.cond:
            self.items.append((time.monotonic(), ev))
            self.cond.notify_all()

    def wait(self, code: str, escort_id: int | None = None, timeout: float = 10.0, **match):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, ev in self.items:
                    if ev.code == code and (escort_id is None or getattr(ev, "escort_id", None) == escort_id) and all(
                        getattr(ev, k) == v for k, v in match.items()
                    ):
                        return t, ev
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {code} for escort {escort_id} in {timeout} s; got {self.codes(escort_id)}")
                self.cond.wait(left)

    def codes(self, escort_id: int | None = None) -> list[str]:
        with self.cond:
            return [ev.code for _, ev in self.items if escort_id is None or getattr(ev, "escort_id", None) == escort_id]


def wait_for(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.fixture
def rig(project_config):
    """A fast simulated robot on a pty and a started manager pointed at it."""
    made = []

    def build(speed: float = 30.0, faults: Faults | None = None, waypoints_drop: tuple = (), **robot_kw):
        faults = faults or Faults()
        robot = make_robot(project_config, faults=faults, speed_mps=speed, dock_s=0.1, boot_s=0.2, **robot_kw)
        for w in waypoints_drop:
            robot.waypoints.pop(w)
        sim = SimServer(robot, faults=faults).start()
        ev = Events()
        mgr = EscortManager(project_config, ports={"robot-1": sim.port}, follow_pause_s=0.2, arrive_pause_s=0.2)
        mgr.subscribe(ev)
        mgr.start()
        made.append((mgr, sim))
        assert mgr.wait_available(5)
        return mgr, sim, ev

    yield build
    for mgr, sim in made:
        mgr.close()
        sim.stop()


def test_escort_comes_leads_arrives_and_returns_to_dock(rig):
    mgr, sim, ev = rig()
    eid = mgr.request_escort(3, ticket="A012")
    _, arrived = ev.wait("ESCORT_ARRIVED", eid)
    codes = ev.codes(eid)
    assert codes[0] == "ROBOT_COMING" and "FOLLOW_ROBOT" in codes and codes[-1] == "ESCORT_ARRIVED"
    assert codes.index("FOLLOW_ROBOT") > max(i for i, c in enumerate(codes) if c == "ROBOT_COMING")
    assert arrived.counter_id == 3 and arrived.waypoint == "counter_3" and arrived.ticket == "A012"
    assert wait_for(lambda: sim.robot.state is p.RobotState.DOCKED and sim.robot.at_waypoint() == "dock", 5)
    assert sim.robot.said == ["FOLLOW_ME", "ARRIVED"]
    assert all(n == 1 for n in sim.robot.executed.values())
    # events are plain data: to_dict and back
    for _, e in ev.items:
        assert event_from_dict(e.to_dict()) == e


def test_second_visitor_waits_in_line_with_an_estimate(rig):
    mgr, sim, ev = rig()
    a = mgr.request_escort(4)
    b = mgr.request_escort(1)
    _, queued = ev.wait("ESCORT_QUEUED", b)
    assert queued.position == 1 and queued.wait_s > 0 and queued.show_map
    ev.wait("ESCORT_ARRIVED", a)
    ev.wait("ESCORT_ARRIVED", b)
    assert ev.wait("ROBOT_COMING", b)[0] > ev.wait("ESCORT_ARRIVED", a)[0]  # one escort at a time


def test_visitor_cancels_during_guiding(rig):
    mgr, sim, ev = rig(speed=5)
    eid = mgr.request_escort(4)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_4")
    mgr.cancel(eid)
    ev.wait("ESCORT_CANCELED", eid)
    assert wait_for(lambda: sim.robot.verbs["CANCEL"] == 1)
    assert wait_for(lambda: sim.robot.state in (p.RobotState.RETURNING, p.RobotState.DOCKING, p.RobotState.DOCKED))
    assert "ESCORT_ARRIVED" not in ev.codes(eid)


def test_cancel_while_queued_removes_from_line(rig):
    mgr, sim, ev = rig()
    a = mgr.request_escort(2)
    b = mgr.request_escort(3)
    ev.wait("ESCORT_QUEUED", b)
    mgr.cancel(b)
    ev.wait("ESCORT_CANCELED", b)
    ev.wait("ESCORT_ARRIVED", a)
    time.sleep(0.5)
    assert "ROBOT_COMING" not in ev.codes(b)


def test_busy_robot_queues_the_visitor_then_comes(rig):
    mgr, sim, ev = rig()
    sim.occupy(1.5)
    eid = mgr.request_escort(1)
    _, queued = ev.wait("ESCORT_QUEUED", eid)
    assert 1 <= queued.wait_s <= 2 and queued.show_map
    ev.wait("ESCORT_ARRIVED", eid, timeout=10)


def test_unknown_waypoint_fails_at_once_without_moving_the_robot(rig):
    mgr, sim, ev = rig(waypoints_drop=("counter_4",))
    assert wait_for(lambda: mgr.status()["robots"][0]["unknown_waypoints"] == ["counter_4"], 3)
    eid = mgr.request_escort(4)
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "UNKNOWN_WAYPOINT" and failed.show_map
    assert ev.codes(eid) == ["ESCORT_FAILED"] and sim.robot.verbs["GOTO"] == 0
    ev.wait("ESCORT_ARRIVED", mgr.request_escort(3))  # the others still work


def test_unknown_waypoint_on_a_robot_without_check_is_found_on_the_way(rig):
    mgr, sim, ev = rig(waypoints_drop=("counter_4",), speed=10, faults=Faults(legacy=True))  # 1.0: no WPQ
    robot = sim.robot
    execute = robot._execute

    def no_check(cmd, now):  # an older robot: CHECK is not implemented
        if cmd.verb == "CHECK":
            return [robot._remember(p.Ack(cmd.cmd_id, p.AckCode.UNSUPPORTED, "CHECK"))]
        return execute(cmd, now)

    with sim._lock:
        robot._execute = no_check
        robot.seen.clear()
    mgr._inbox.put(("call", mgr._check_waypoints, (mgr._slots["robot-1"],)))
    assert wait_for(lambda: robot.verbs["CHECK"] >= 2 * 8, 3)  # 8 waypoints at link up, then again
    time.sleep(0.2)
    assert mgr.status()["robots"][0]["unknown_waypoints"] == []
    eid = mgr.request_escort(4)
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "UNKNOWN_WAYPOINT" and failed.show_map
    assert "ROBOT_COMING" in ev.codes(eid)
    assert wait_for(lambda: sim.robot.state in (p.RobotState.RETURNING, p.RobotState.DOCKING, p.RobotState.DOCKED))


def test_unknown_counter_is_a_caller_error(rig):
    mgr, _, _ = rig()
    with pytest.raises(EscortError):
        mgr.request_escort(42)
    with pytest.raises(EscortError):
        mgr.request_escort(waypoint="roof")


def test_blocked_path_aborts_with_reason_and_robot_goes_home(rig):
    mgr, sim, ev = rig(faults=Faults(block=frozenset({"counter_2"})))
    eid = mgr.request_escort(2)
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "BLOCKED"
    assert wait_for(lambda: sim.robot.state is p.RobotState.DOCKED)


def test_estop_is_latched_until_reset(rig):
    mgr, sim, ev = rig(speed=5)
    eid = mgr.request_escort(4)
    assert wait_for(lambda: sim.robot.state is p.RobotState.GUIDING)
    sim.press_estop()
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "ESTOP_ACTIVE"
    sim.release_estop()
    time.sleep(1.2)  # a heartbeat or two: still latched
    assert sim.robot.state is p.RobotState.ESTOP and not mgr.available
    second = mgr.request_escort(1)
    assert ev.wait("ESCORT_FAILED", second)[1].reason == "ESTOP_ACTIVE"
    sim.press_estop()
    (ack,) = [f.result(3) for f in mgr.reset_estop()]
    assert ack.code is p.AckCode.DENIED  # the button is still pressed
    sim.release_estop()
    (ack,) = [f.result(3) for f in mgr.reset_estop()]
    assert ack.code is p.AckCode.ACCEPTED
    assert wait_for(lambda: mgr.available, 3)
    assert wait_for(lambda: sim.robot.state in (p.RobotState.RETURNING, p.RobotState.DOCKING, p.RobotState.DOCKED))


def test_robot_reboot_mid_escort_resumes(rig):
    mgr, sim, ev = rig(speed=8)
    eid = mgr.request_escort(4)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_4")
    sim.reboot()
    ev.wait("ESCORT_ARRIVED", eid, timeout=10)
    assert sim.robot.reboots == 1
    assert sim.robot.verbs["GOTO"] == 3  # kiosk, counter_4, counter_4 again after the reboot
    assert all(n == 1 for n in sim.robot.executed.values())


@pytest.mark.slow
def test_unplug_mid_escort_map_within_3s_then_recovers(rig):
    mgr, sim, ev = rig(speed=4)
    eid = mgr.request_escort(4)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_4")
    t0 = time.monotonic()
    sim.unplug()
    t_fail, failed = ev.wait("ESCORT_FAILED", eid, timeout=5)
    assert failed.reason == "LINK_DOWN" and failed.show_map
    assert t_fail - t0 <= 3.0
    assert not mgr.available
    # meanwhile a new visitor is not left waiting either
    other = mgr.request_escort(1)
    assert ev.wait("ESCORT_FAILED", other)[1].reason == "LINK_DOWN"
    time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
    t1 = time.monotonic()
    sim.replug()
    t_up, _ = ev.wait("ROBOT_STATUS", timeout=5, link_up=True, available=True, state="RETURNING")
    assert t_up - t1 <= 2.0
    # the robot lost the kiosk's heartbeat, stopped the escort and went home on its own
    assert sim.robot.last_goal.reason == "LINK_LOST"
    assert wait_for(lambda: sim.robot.state is p.RobotState.DOCKED, 10)
    again = mgr.request_escort(1)
    ev.wait("ESCORT_ARRIVED", again)


def test_robot_that_stops_answering_means_map_within_3s(rig):
    mgr, sim, ev = rig(speed=4)
    eid = mgr.request_escort(3)
    ev.wait("ROBOT_COMING", eid)
    t0 = time.monotonic()
    sim.set_stalled(True)
    t_fail, failed = ev.wait("ESCORT_FAILED", eid, timeout=5)
    assert failed.reason == "LINK_DOWN" and t_fail - t0 <= 3.2
    sim.set_stalled(False)
    assert mgr.wait_available(5)


def test_no_robot_configured_means_unavailable(project_config):
    cfg = project_config.model_copy(update={"robot": project_config.robot.model_copy(update={"enabled": False})})
    ev = Events()
    with EscortManager(cfg) as mgr:
        mgr.subscribe(ev)
        assert not mgr.available and mgr.status() == {"available": False, "robots": []}
        eid = mgr.request_escort(1)
        assert ev.wait("ESCORT_FAILED", eid)[1].reason == "UNAVAILABLE"


def test_wrong_port_url_is_unavailable_with_a_clear_message(project_config):
    ev = Events()
    with EscortManager(project_config, ports={"robot-1": "bogus://x"}) as mgr:
        mgr.subscribe(ev)
        st = mgr.status()["robots"][0]
        assert not st["available"] and "bogus" in st["error"] and "config.yaml" in st["error"]
        assert ev.wait("ESCORT_FAILED", mgr.request_escort(2))[1].reason == "UNAVAILABLE"


def test_missing_device_is_link_down_and_says_to_check_the_cable(project_config, tmp_path):
    ev = Events()
    with EscortManager(project_config, ports={"robot-1": str(tmp_path / "ttyUSB0")}) as mgr:
        mgr.subscribe(ev)
        time.sleep(0.3)
        st = mgr.status()["robots"][0]
        assert not st["available"] and "does not exist" in st["error"] and "USB" in st["error"]
        assert ev.wait("ESCORT_FAILED", mgr.request_escort(2))[1].reason == "LINK_DOWN"


def test_two_robots_share_the_visitors(project_config):
    r = project_config.robot
    robots = [r.robots[0], r.robots[0].model_copy(update={"name": "robot-2"})]
    cfg = project_config.model_copy(update={"robot": r.model_copy(update={"robots": robots})})
    sims = [SimServer(make_robot(cfg, n, speed_mps=20, dock_s=0.1)).start() for n in ("robot-1", "robot-2")]
    ev = Events()
    try:
        with EscortManager(cfg, ports={"robot-1": sims[0].port, "robot-2": sims[1].port},
                           follow_pause_s=0.2, arrive_pause_s=0.2) as mgr:
            mgr.subscribe(ev)
            assert wait_for(lambda: all(x["available"] for x in mgr.status()["robots"]), 5)
            a, b = mgr.request_escort(1), mgr.request_escort(4)
            ev.wait("ESCORT_ARRIVED", a)
            ev.wait("ESCORT_ARRIVED", b)
            assert "ESCORT_QUEUED" not in ev.codes()
            assert {ev.wait("ESCORT_ARRIVED", i)[1].robot for i in (a, b)} == {"robot-1", "robot-2"}
    finally:
        for s in sims:
            s.stop()


def test_escorts_complete_with_corruption_and_drops(rig):
    mgr, sim, ev = rig(faults=Faults(drop=0.05, corrupt=0.10, seed=3), speed=40, heartbeat_s=0.25, missed_heartbeats=12)
    for counter in (1, 2, 3, 4, 1):
        eid = mgr.request_escort(counter)
        ev.wait("ESCORT_ARRIVED", eid, timeout=20)
    assert all(n == 1 for n in sim.robot.executed.values())
    assert sim.stats["corrupted_in"] + sim.stats["corrupted_out"] > 0


def test_event_types_round_trip_and_carry_codes_not_sentences():
    e = EscortQueued(1, "robot-1", 3, "counter_3", "A012", position=2, wait_s=40)
    assert e.to_dict() == {"code": "ESCORT_QUEUED", "escort_id": 1, "robot": "robot-1", "counter_id": 3,
                           "waypoint": "counter_3", "ticket": "A012", "position": 2, "wait_s": 40, "show_map": True}
    for ev in (e, RobotComing(1, "r", 1, "counter_1", None, 3.0, 4.0), FollowRobot(1, "r", 1, "c", None, 1.0, 2.0),
               EscortFailed(1, "r", None, "restroom", None, reason="BLOCKED")):
        assert event_from_dict(ev.to_dict()) == ev


def test_robot_taken_by_someone_else_at_the_meeting_point_fails_with_busy(rig):
    mgr, sim, ev = rig()
    mgr.follow_pause_s = 1.0
    eid = mgr.request_escort(2)
    ev.wait("FOLLOW_ROBOT", eid)  # at the meeting point, pausing
    sim.occupy(30)
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "BUSY" and failed.show_map

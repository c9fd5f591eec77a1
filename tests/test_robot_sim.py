"""robot/sim.py's SimRobot: the reference robot behaviour, driven by frames and a fake clock (issue 5)."""

from __future__ import annotations

import pytest

from robot import protocol as p
from robot.protocol import AckCode, GoalStatus, RobotState
from robot.sim import Faults, SimRobot

WAYPOINTS = {"dock": (0.0, 0.0), "kiosk": (1.0, 0.0), "counter_1": (10.0, 0.0), "counter_2": (0.0, 10.0)}


def make(**kw) -> SimRobot:
    kw.setdefault("speed_mps", 1.0)
    kw.setdefault("dock_s", 1.0)
    return SimRobot(dict(WAYPOINTS), **kw)


def cmd(verb: str, cid: int, *args: str) -> p.Frame:
    return p.decode_frame(p.encode_frame(1, verb, cid, *args))


HB = p.decode_frame(p.encode_frame(0, "HB"))


def run(robot: SimRobot, start: float, end: float, step: float = 0.1, kiosk_alive: bool = True) -> list:
    """Advance the clock; the kiosk keeps sending heartbeats unless `kiosk_alive` is False."""
    out, t = [], start
    while t <= end + 1e-9:
        if kiosk_alive:
            out += robot.handle(HB, t)
        out += robot.tick(t)
        t += step
    return out


def acks(msgs) -> list[p.Ack]:
    return [m for m in msgs if isinstance(m, p.Ack)]


def booted() -> SimRobot:
    r = make()
    r.tick(0.0)
    return r


def test_boot_says_hello_and_status_and_is_docked():
    r = make()
    out = r.tick(0.0)
    assert isinstance(out[0], p.Hello) and out[0].version == p.PROTOCOL_VERSION
    assert isinstance(out[1], p.Status) and out[1].state is RobotState.DOCKED and out[1].waypoint == "dock"


def test_goto_moves_feeds_back_and_arrives():
    r = booted()
    out = r.handle(cmd("GOTO", 5, "counter_1"), 0.0)
    assert acks(out) == [p.Ack(5, AckCode.ACCEPTED)]
    msgs = run(r, 0.1, 11.0)
    fbs = [m for m in msgs if isinstance(m, p.Feedback)]
    assert 15 <= len(fbs) <= 25  # 2 Hz for ~10 s
    assert fbs[0].distance_m > fbs[-1].distance_m
    assert p.Result(5, GoalStatus.SUCCEEDED, "") in msgs
    assert r.state is RobotState.ARRIVED and r.at_waypoint() == "counter_1"
    assert r.battery < 100


def test_duplicate_ids_are_re_acked_not_executed():
    r = booted()
    first = r.handle(cmd("GOTO", 9, "counter_1"), 0.0)
    again = r.handle(cmd("GOTO", 9, "counter_1"), 0.2)
    assert acks(first) == again == [p.Ack(9, AckCode.ACCEPTED)]
    assert r.executed[9] == 1 and r.duplicates == 1


def test_unknown_waypoint_is_denied():
    r = booted()
    assert r.handle(cmd("GOTO", 3, "mars"), 0.0) == [p.Ack(3, AckCode.DENIED, "UNKNOWN_WAYPOINT")]
    assert r.state is RobotState.DOCKED


def test_second_goto_while_guiding_is_busy_with_seconds():
    r = booted()
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    run(r, 0.1, 2.0)
    (ack,) = r.handle(cmd("GOTO", 2, "counter_2"), 2.0)
    assert ack.code is AckCode.BUSY and 7 <= ack.busy_s <= 10


def test_occupied_robot_answers_busy():
    r = booted()
    r.occupied_until = 30.0
    assert r.handle(cmd("GOTO", 1, "kiosk"), 10.0) == [p.Ack(1, AckCode.BUSY, "20")]


def test_unsupported_and_bad_arguments():
    r = booted()
    assert r.handle(p.decode_frame(p.encode_frame(1, "DANCE", 4)), 0.0) == [p.Ack(4, AckCode.UNSUPPORTED, "DANCE")]
    assert r.handle(cmd("SAY", 5), 0.0) == [p.Ack(5, AckCode.FAILED, "BAD_ARGUMENT")]
    assert r.handle(p.decode_frame(p.encode_frame(1, "GOTO", "x")), 0.0) == []  # no id: nothing to answer


def test_estop_is_latched_until_reset_after_release():
    r = booted()
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    run(r, 0.1, 1.0)
    out = r.press_estop(1.0)
    assert p.Result(1, GoalStatus.ABORTED, "ESTOP_ACTIVE") in out
    assert r.state is RobotState.ESTOP
    assert r.handle(cmd("GOTO", 2, "kiosk"), 1.1) == [p.Ack(2, AckCode.DENIED, "ESTOP_ACTIVE")]
    assert acks(r.handle(cmd("RESET", 3), 1.2)) == [p.Ack(3, AckCode.DENIED, "ESTOP_ACTIVE")]  # still pressed
    r.release_estop()
    run(r, 1.3, 3.0)
    assert r.state is RobotState.ESTOP  # released but still latched
    assert acks(r.handle(cmd("RESET", 4), 3.1)) == [p.Ack(4, AckCode.ACCEPTED)]
    assert r.state is RobotState.IDLE
    assert acks(r.handle(cmd("GOTO", 5, "kiosk"), 3.2)) == [p.Ack(5, AckCode.ACCEPTED)]


def test_kiosk_heartbeat_lost_stops_and_returns_to_dock():
    r = booted()
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    hb = p.decode_frame(p.encode_frame(2, "HB"))
    t = 0.0
    while t < 2.0:
        t += 0.1
        r.tick(t)
        if t < 1.0:
            r.handle(hb, t)
    assert r.state is RobotState.GUIDING  # 3 missed heartbeats not reached yet
    msgs = run(r, 2.1, 4.5, kiosk_alive=False)
    assert p.Result(1, GoalStatus.ABORTED, "LINK_LOST") in msgs
    assert r.state is RobotState.RETURNING
    run(r, 4.6, 12.0, kiosk_alive=False)
    assert r.state is RobotState.DOCKED


def test_reboot_forgets_goal_and_ids_and_says_hello_again():
    r = booted()
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    run(r, 0.1, 2.0)
    old_boot = r.boot_id
    r.reboot(2.0)
    assert r.state is RobotState.BOOT and r.handle(cmd("GOTO", 2, "kiosk"), 2.1) == []
    out = run(r, 2.2, 3.5)
    hello = next(m for m in out if isinstance(m, p.Hello))
    assert hello.boot_id != old_boot
    assert r.state is RobotState.IDLE and r.goal is None
    assert acks(r.handle(cmd("GOTO", 1, "counter_1"), 3.6)) == [p.Ack(1, AckCode.ACCEPTED)]  # memory gone


def test_dock_when_docked_succeeds_at_once_and_dock_preempts_nothing_active():
    r = booted()
    out = r.handle(cmd("DOCK", 7), 0.0)
    assert p.Ack(7, AckCode.ACCEPTED) in out and p.Result(7, GoalStatus.SUCCEEDED, "") in out


def test_blocked_waypoint_aborts_half_way():
    r = make(faults=Faults(block=frozenset({"counter_1"})))
    r.tick(0.0)
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    msgs = run(r, 0.1, 8.0)
    assert p.Result(1, GoalStatus.ABORTED, "BLOCKED") in msgs
    assert 4.5 <= r.x <= 5.5 and r.state is RobotState.IDLE


def test_cancel_stops_the_goal():
    r = booted()
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    run(r, 0.1, 1.0)
    out = r.handle(cmd("CANCEL", 2), 1.0)
    assert p.Result(1, GoalStatus.CANCELED, "") in out and r.state is RobotState.IDLE


def test_stall_after_n_commands_goes_silent():
    r = make(faults=Faults(stall_after=2))
    r.tick(0.0)
    r.handle(cmd("STATQ", 1), 0.0)
    assert r.handle(cmd("STATQ", 2), 0.1)  # the 2nd is still answered
    assert r.handle(cmd("STATQ", 3), 0.2) == [] and r.tick(5.0) == []


def test_low_battery_is_denied():
    r = booted()
    r.battery = 10
    assert r.handle(cmd("GOTO", 1, "kiosk"), 0.0) == [p.Ack(1, AckCode.DENIED, "LOW_BATTERY")]


def test_dock_must_exist():
    with pytest.raises(ValueError):
        SimRobot({"a": (0, 0)}, dock="dock")


def test_kiosk_hello_starts_a_new_session_of_ids():
    r = booted()
    r.handle(cmd("GOTO", 500, "kiosk"), 0.0)
    run(r, 0.1, 1.0)
    assert acks(r.handle(cmd("HELLO", 900, "1", "KIOSK"), 1.0)) == [p.Ack(900, AckCode.ACCEPTED)]
    assert r.handle(cmd("HELLO", 900, "1", "KIOSK"), 1.1) == [p.Ack(900, AckCode.ACCEPTED)]  # retry: re-acked
    # a restarted kiosk that happens to reuse id 500 gets its command executed, not an old ack
    assert acks(r.handle(cmd("GOTO", 500, "counter_1"), 1.2)) == [p.Ack(500, AckCode.ACCEPTED)]
    assert r.executed[500] == 2 and r.goal.target == "counter_1"


def test_check_says_whether_a_waypoint_is_known_without_moving():
    r = booted()
    assert r.handle(cmd("CHECK", 1, "counter_2"), 0.0) == [p.Ack(1, AckCode.ACCEPTED)]
    assert r.handle(cmd("CHECK", 2, "mars"), 0.0) == [p.Ack(2, AckCode.DENIED, "UNKNOWN_WAYPOINT")]
    assert r.state is RobotState.DOCKED and r.goal is None


def test_reboot_after_n_commands():
    r = make(faults=Faults(reboot_after=2), boot_s=0.5)
    r.tick(0.0)
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    r.handle(cmd("STATQ", 2), 0.5)
    run(r, 0.6, 0.7)
    assert r.reboots == 0
    run(r, 0.8, 2.0)
    assert r.reboots == 1 and r.goal is None and r.state is RobotState.IDLE


def test_booted_away_from_the_dock_with_no_kiosk_it_goes_home_after_60_s(project_config):
    """docs/robot-protocol.md section 10: the SHOULD for a robot nobody talks to after a boot."""
    from robot.sim import make_robot

    robot = make_robot(project_config, boot_s=0.1)
    robot.x, robot.y = robot.waypoints["counter_2"]
    robot.reboot(0.0)
    robot.tick(0.2)
    assert str(robot.state) == "IDLE"
    robot.tick(30.0)
    assert str(robot.state) == "IDLE" and robot.goal is None
    robot.tick(61.0)
    assert str(robot.state) == "RETURNING" and robot.goal.goal_id is None


def test_leading_zero_ids_are_malformed_not_the_same_id():
    """Spec section 2 (A4): a CANCEL goal id `0001` is FAILED,BAD_ARGUMENT (it was NO_GOAL); a GOTO
    whose own id is `0042` gets no answer and does not move the robot."""
    r = booted()
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    assert r.handle(cmd("CANCEL", 2, "0001"), 0.1) == [p.Ack(2, AckCode.FAILED, "BAD_ARGUMENT")]
    assert r.goal is not None and r.goal.goal_id == 1
    r2 = booted()
    assert r2.handle(p.decode_frame(p.encode_frame(1, "GOTO", "0042", "counter_1")), 0.0) == []
    assert r2.goal is None and r2.state is RobotState.DOCKED


def test_a_second_auth_is_denied_and_keeps_the_connection_authenticated():
    """Spec section 13 (A3): AUTH with no handshake running is DENIED,AUTH_FAILED; only a HELLO,
    the connection's close or a reboot ends an authentication."""
    key = "correct horse battery"
    r = make(key=key)
    r.tick(0.0)
    out = r.handle(cmd("HELLO", 1, "1", "KIOSK", "1", "5f3a9c01"), 0.0)
    auth = next(m for m in out if isinstance(m, p.Auth))
    mac = p.kiosk_mac(key, "5f3a9c01", auth.nonce)
    assert r.handle(cmd("AUTH", 2, mac), 0.1) == [p.Ack(2, AckCode.ACCEPTED)]
    assert r.handle(cmd("AUTH", 3, mac), 0.2) == [p.Ack(3, AckCode.DENIED, "AUTH_FAILED")]
    assert acks(r.handle(cmd("STATQ", 4), 0.3)) == [p.Ack(4, AckCode.ACCEPTED)]


def test_link_loss_with_no_goal_sends_an_arrived_robot_home_but_leaves_a_docked_one():
    """Spec section 10 (A5): 3 s without the kiosk, no goal: ARRIVED or IDLE returns at once."""
    r = booted()
    r.handle(cmd("GOTO", 1, "kiosk"), 0.0)
    run(r, 0.1, 2.0)
    assert r.state is RobotState.ARRIVED
    run(r, 2.1, 5.5, kiosk_alive=False)
    assert r.state is RobotState.RETURNING and r.goal.goal_id is None
    d = booted()
    run(d, 0.0, 1.0)
    run(d, 1.1, 6.0, kiosk_alive=False)
    assert d.state is RobotState.DOCKED and d.goal is None


def test_idle_after_cancel_does_not_move_by_itself_while_the_kiosk_talks():
    """Spec sections 6.1, 9 (A6): only ARRIVED returns after 60 s without a command; IDLE waits."""
    r = booted()
    r.handle(cmd("GOTO", 1, "counter_1"), 0.0)
    run(r, 0.1, 3.0)
    r.handle(cmd("CANCEL", 2), 3.0)
    assert r.state is RobotState.IDLE
    run(r, 3.1, 70.0, step=0.5)
    assert r.state is RobotState.IDLE and r.goal is None


def test_busy_seconds_are_rounded_up_and_other_lead_values_mean_no_visitor():
    """Spec sections 5 and 4.1 (A9, A7)."""
    r = booted()
    assert acks(r.handle(cmd("GOTO", 1, "counter_1", "yes"), 0.0)) == [p.Ack(1, AckCode.ACCEPTED)]
    assert r.leading is False
    run(r, 0.1, 0.45)  # 9.65 m left at 1 m/s
    assert r.handle(cmd("GOTO", 2, "kiosk"), 0.5) == [p.Ack(2, AckCode.BUSY, "10")]

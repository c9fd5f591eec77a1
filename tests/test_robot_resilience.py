"""Issue 15: the kiosk survives every reboot, stall and firmware a vendor could write.

Each numbered finding of the issue has tests here, through real ptys and TCP sockets with the
simulated robot (fault flags) — and, where a fault can be caused through the protocol itself
(REBOOT, ESTOP), against the independent robot in tests/indep_robot/ as well
(tests/test_robot_conformance.py runs the whole conformance kit against both).
"""

from __future__ import annotations

import socket
import time

import pytest
from test_robot_escort import Events, wait_for

from robot import protocol as p
from robot.escort import EscortManager
from robot.link import LinkUp, RobotLink, RobotRebooted
from robot.sim import Faults, SimServer, make_robot

KEY = "correct horse battery"


def with_key(cfg, key: str | None):
    r = cfg.robot
    entry = r.robots[0].model_copy(update={"key": key})
    return cfg.model_copy(update={"robot": r.model_copy(update={"robots": [entry]})})


@pytest.fixture
def rig(project_config):
    """A simulated robot (pty, or TCP with a key) and a started manager with short watchdogs."""
    made = []

    def build(speed: float = 30.0, faults: Faults | None = None, tcp: bool = False, key: str | None = None,
              robot_key: str | None = "same", wait: bool = True, manager_kw: dict | None = None, **robot_kw):
        faults = faults or Faults()
        cfg = with_key(project_config, key)
        robot = make_robot(cfg, faults=faults, speed_mps=speed, dock_s=0.1, boot_s=0.2,
                           key=key if robot_key == "same" else robot_key, **robot_kw)
        sim = SimServer(robot, faults=faults, tcp_port=0 if tcp else None).start()
        ev = Events()
        kw = dict(follow_pause_s=0.2, arrive_pause_s=0.2, stall_s=2.0, stall_give_up_s=5.0)
        kw.update(manager_kw or {})
        mgr = EscortManager(cfg, ports={"robot-1": sim.port}, **kw)
        mgr.subscribe(ev)
        mgr.start()
        made.append((mgr, sim))
        if wait:
            assert mgr.wait_available(5), mgr.status()
        return mgr, sim, ev

    yield build
    for mgr, sim in made:
        mgr.close()
        sim.stop()


def robot_state(sim) -> str:
    return str(sim.robot.state)


# -- 1. reboots ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_reboot_seen_in_a_heartbeat_within_2s_when_the_hello_is_lost(rig, tcp):
    mgr, sim, ev = rig(speed=3, faults=Faults(drop_hello=True), tcp=tcp, key=KEY if tcp else None)
    eid = mgr.request_escort(4)
    ev.wait("FOLLOW_ROBOT", eid)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_4", 5)
    t0 = time.monotonic()
    sim.reboot()
    t_alert, alert = ev.wait("ROBOT_ALERT", alert="REBOOTED", timeout=5)
    assert t_alert - t0 <= 2.0 + 0.2  # boot 0.2 s + one heartbeat
    _, resumed = ev.wait("ESCORT_RESUMED", eid)
    assert resumed.cause == "REBOOTED"
    ev.wait("ESCORT_ARRIVED", eid, timeout=15)
    assert sim.robot.reboots == 1


def test_reboot_while_returning_to_the_dock_sends_dock_again(rig):
    mgr, sim, ev = rig(speed=4, faults=Faults(drop_hello=True))
    eid = mgr.request_escort(1)
    ev.wait("ESCORT_ARRIVED", eid, timeout=20)
    assert wait_for(lambda: robot_state(sim) == "RETURNING", 5)
    sim.reboot()
    ev.wait("ROBOT_ALERT", alert="REBOOTED", timeout=5)
    assert wait_for(lambda: robot_state(sim) == "RETURNING", 5)  # sent home again, not stranded
    assert wait_for(lambda: robot_state(sim) == "DOCKED" and sim.robot.at_waypoint() == "dock", 20)
    assert sim.robot.verbs["DOCK"] >= 1


def test_a_second_reboot_ends_the_escort_honestly(rig):
    mgr, sim, ev = rig(speed=2)
    eid = mgr.request_escort(4)
    ev.wait("FOLLOW_ROBOT", eid)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_4", 5)
    sim.reboot()
    ev.wait("ESCORT_RESUMED", eid)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_4", 5)
    sim.reboot()
    _, failed = ev.wait("ESCORT_FAILED", eid, timeout=5)
    assert failed.reason == "REBOOTED" and failed.show_map


def test_a_version_1_robot_reboot_is_seen_by_its_forgotten_goal(rig):
    mgr, sim, ev = rig(speed=3, faults=Faults(drop_hello=True, legacy=True))
    eid = mgr.request_escort(4)
    ev.wait("FOLLOW_ROBOT", eid)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_4", 5)
    t0 = time.monotonic()
    sim.reboot()
    t1, _ = ev.wait("ESCORT_RESUMED", eid, timeout=5)
    assert t1 - t0 <= 2.5
    ev.wait("ESCORT_ARRIVED", eid, timeout=15)


def test_robot_rebooting_into_protocol_2_gets_no_more_commands(project_config):
    robot = make_robot(project_config, speed_mps=10, boot_s=0.2)
    events = Events()
    with SimServer(robot) as sim:
        link = RobotLink(sim.port, name="r1", on_event=lambda e: events(_Wrap(e))).start()
        try:
            assert link.wait_up(3)
            with sim._lock:
                robot.version = 2
            sim.reboot()
            assert wait_for(lambda: not link.up, 3) and "version 2" in link.incompatible
            n = robot.commands_received
            time.sleep(1.5)
            assert robot.commands_received == n  # not even a HELLO: the kiosk does not use it
            with sim._lock:
                robot.version = 1
            sim.reboot()
            assert wait_for(lambda: link.up, 4)  # back to version 1: used again
        finally:
            link.stop()


class _Wrap:
    def __init__(self, e):
        self.e, self.code = e, type(e).__name__


def test_link_reports_reboot_from_heartbeat_and_says_hello_again(project_config):
    robot = make_robot(project_config, boot_s=0.2, faults=Faults(drop_hello=True))
    got = []
    with SimServer(robot) as sim:
        link = RobotLink(sim.port, name="r1", on_event=got.append).start()
        try:
            assert link.wait_up(3)
            hellos = robot.verbs["HELLO"]
            old = link.boot_id
            sim.reboot()
            assert wait_for(lambda: any(isinstance(e, RobotRebooted) for e in got), 2.5)
            ev = next(e for e in got if isinstance(e, RobotRebooted))
            assert ev.hello is None and ev.boot_id != old and ev.boot_id == robot.boot_id
            assert wait_for(lambda: robot.verbs["HELLO"] == hellos + 1, 2)  # a new session
            assert link.up and link.command("STATQ").code is p.AckCode.ACCEPTED
        finally:
            link.stop()


# -- 2. e-stop mid-escort --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["button", "command"])
def test_estop_mid_escort_is_reported_at_once(rig, how):
    mgr, sim, ev = rig(speed=2)
    eid = mgr.request_escort(4)
    ev.wait("FOLLOW_ROBOT", eid)
    t0 = time.monotonic()
    if how == "button":
        sim.press_estop()
    else:
        mgr._slots["robot-1"].link.send("ESTOP")
    t_status, status = ev.wait("ROBOT_STATUS", estop=True, timeout=3)
    assert t_status - t0 <= 1.0
    assert not status.available and status.state == "ESTOP" and status.reason == "ESTOP_ACTIVE"
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "ESTOP_ACTIVE"
    ev.wait("ROBOT_ALERT", alert="ESTOP")
    assert not mgr.available and mgr.status()["robots"][0]["estop"]


def test_estop_latch_survives_a_reboot(project_config):
    robot = make_robot(project_config, boot_s=0.1)
    robot.press_estop(0.0)
    robot.release_estop()
    robot.reboot(1.0)
    robot.tick(1.2)
    assert robot.state is p.RobotState.ESTOP and robot.status().estop


# -- 3. valid frames are never dropped ---------------------------------------------------------------


def test_a_robot_sending_only_unknown_frame_types_keeps_the_link_up(project_config):
    robot = make_robot(project_config, faults=Faults(chatter=True, no_heartbeat=True))
    got = []
    with SimServer(robot) as sim:
        link = RobotLink(sim.port, name="r1", on_event=got.append).start()
        try:
            assert link.wait_up(3)
            time.sleep(4.5)  # more than 3 missed heartbeats
            assert link.up and link.stats.downs == 0
            assert link.stats.unknown_types["XDIAG"] >= 5
        finally:
            link.stop()


@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_empty_fields_are_accepted_end_to_end(rig, tcp):
    mgr, sim, ev = rig(speed=10, faults=Faults(empty_fields=True), tcp=tcp, key=KEY if tcp else None)
    st = mgr.status()["robots"][0]
    assert st["link_up"] and st["battery"] is None  # an empty battery is "unknown", not a dropped frame
    eid = mgr.request_escort(2)
    ev.wait("ESCORT_ARRIVED", eid, timeout=10)
    assert mgr.status()["robots"][0]["stats"]["bad_fields"] == 0


def test_an_unlocalised_robot_is_denied_not_failed(rig):
    mgr, sim, ev = rig(localised=False)
    eid = mgr.request_escort(2)
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "LOCALIZATION_LOST"
    assert mgr.status()["robots"][0]["link_up"]  # an empty x/y did not drop the STATUS


def test_an_unknown_state_is_kept_reported_and_not_offered(rig):
    mgr, sim, ev = rig(faults=Faults(unknown_state="NAPPING"), wait=False)
    assert wait_for(lambda: mgr.status()["robots"][0]["link_up"], 5)
    assert wait_for(lambda: mgr.status()["robots"][0]["state"] == "NAPPING", 3)
    st = mgr.status()["robots"][0]
    assert not st["available"] and st["unavailable_reason"] == "UNKNOWN_STATE"
    assert st["stats"]["unknown_words"].get("NAPPING", 0) >= 1
    ev.wait("ROBOT_ALERT", alert="UNKNOWN_STATE")


# -- 4. progress watchdog, visitor lost, low battery ------------------------------------------------------


def test_a_robot_that_says_it_moves_but_does_not_is_stalled_within_stall_s(rig):
    mgr, sim, ev = rig(speed=3)
    eid = mgr.request_escort(2)
    ev.wait("FOLLOW_ROBOT", eid)
    assert wait_for(lambda: sim.robot.goal is not None and sim.robot.goal.target == "counter_2", 5)
    t0 = time.monotonic()
    sim.set_stuck(True)
    t1, stalled = ev.wait("ESCORT_STALLED", eid, timeout=6)
    assert t1 - t0 <= 2.0 + 1.0 and stalled.reason == "STALLED" and stalled.show_map
    ev.wait("ROBOT_ALERT", alert="STALLED")
    sim.set_stuck(False)  # it moves again: the escort goes on
    _, resumed = ev.wait("ESCORT_RESUMED", eid, timeout=5)
    assert resumed.cause == "STALLED"
    ev.wait("ESCORT_ARRIVED", eid, timeout=15)


def test_a_stall_that_lasts_ends_the_escort_and_sends_the_robot_home(rig):
    mgr, sim, ev = rig(speed=3, faults=Faults(stuck_after_s=0.3), manager_kw={"stall_s": 1.0, "stall_give_up_s": 2.5})
    eid = mgr.request_escort(4)
    ev.wait("ESCORT_STALLED", eid, timeout=5)
    _, failed = ev.wait("ESCORT_FAILED", eid, timeout=6)
    assert failed.reason == "STALLED" and failed.show_map
    assert wait_for(lambda: sim.robot.verbs["CANCEL"] >= 1 and sim.robot.verbs["DOCK"] >= 1, 5)


def test_visitor_lost_is_an_event_then_a_stall(rig):
    mgr, sim, ev = rig(speed=3, faults=Faults(visitor_lost_after_s=0.3), visitor_wait_s=30)
    eid = mgr.request_escort(4)
    _, lost = ev.wait("VISITOR_LOST", eid, timeout=8)
    assert lost.show_map
    ev.wait("ROBOT_ALERT", alert="VISITOR_LOST")
    _, stalled = ev.wait("ESCORT_STALLED", eid, timeout=5)
    assert stalled.reason == "VISITOR_LOST"


def test_low_battery_is_unavailable_before_any_goto(rig):
    mgr, sim, ev = rig(battery_pct=12, wait=False)
    assert wait_for(lambda: mgr.status()["robots"][0]["link_up"], 5)
    assert wait_for(lambda: mgr.status()["robots"][0]["unavailable_reason"] == "LOW_BATTERY", 3)
    ev.wait("ROBOT_STATUS", available=False, reason="LOW_BATTERY")
    eid = mgr.request_escort(2)
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "LOW_BATTERY" and failed.show_map
    assert sim.robot.verbs["GOTO"] == 0  # never tried just to be denied
    sim.set_battery(30)  # charged above the threshold + 5 %
    assert wait_for(lambda: mgr.available, 3)


# -- 7. the TCP transport is keyed -------------------------------------------------------------------------


def test_keyed_tcp_link_works_and_a_stranger_cannot_command_the_robot(rig):
    mgr, sim, ev = rig(speed=10, tcp=True, key=KEY)
    assert mgr.status()["robots"][0]["capabilities"].endswith("A")
    ev.wait("ESCORT_ARRIVED", mgr.request_escort(1), timeout=10)
    # a stranger on the network: the simulator serves one connection at a time, so it is
    # served only once the kiosk's connection closes; even then it can only be refused
    assert wait_for(lambda: robot_state(sim) == "DOCKED", 10)
    mgr.close()
    host, port = sim.port.removeprefix("socket://").split(":")
    enc = p.Encoder()
    with socket.create_connection((host, int(port)), timeout=3) as s:
        s.sendall(enc.frame("HELLO", 500, 1, "EVIL", 1, "") + enc.frame("GOTO", 501, "counter_4")
                  + enc.frame("RESET", 502))
        dec, acks, end = p.StreamDecoder(), {}, time.monotonic() + 3
        while len(acks) < 3 and time.monotonic() < end:
            for f in dec.feed(s.recv(4096)):
                if f.type == "ACK":
                    acks[int(f.fields[0])] = (f.fields[1], f.fields[2])
    assert acks[501] == ("DENIED", "AUTH_REQUIRED") and acks[502] == ("DENIED", "AUTH_REQUIRED")
    assert sim.robot.verbs["GOTO"] == 2 and robot_state(sim) == "DOCKED"  # only the kiosk's two GOTOs


def test_a_wrong_key_keeps_the_robot_unused(rig):
    mgr, sim, ev = rig(tcp=True, key="the kiosk's key 12345", robot_key=KEY, wait=False)
    assert wait_for(lambda: mgr.status()["robots"][0]["error"] != "connecting", 5)
    time.sleep(1.0)
    st = mgr.status()["robots"][0]
    assert not st["link_up"] and "key" in st["error"]
    assert sim.robot.verbs["GOTO"] == 0 and sim.robot.verbs["STATQ"] == 0


def test_mac_test_vector_in_the_spec():
    assert p.robot_mac(KEY, "5f3a9c01", "a1b2c3d4", "9f2c41d0") == "81ca9f249f69c125"
    assert p.kiosk_mac(KEY, "5f3a9c01", "a1b2c3d4") == "20877fdda3243aab"


# -- the window ------------------------------------------------------------------------------------------


def test_at_most_four_commands_are_outstanding(project_config):
    robot = make_robot(project_config, faults=Faults(delay_ms=150))
    seen = []
    with SimServer(robot) as sim:
        link = RobotLink(sim.port, name="r1").start()
        try:
            assert link.wait_up(3)
            futs = [link.send("CHECK", name) for name in list(project_config.floor_map.waypoints)]
            for _ in range(20):
                seen.append(link.outstanding)
                time.sleep(0.01)
            assert all(f.result(5).code is p.AckCode.ACCEPTED for f in futs)
        finally:
            link.stop()
    assert max(seen) <= p.WINDOW and max(seen) >= 2


def test_linkup_event_carries_the_1_1_hello(project_config):
    robot = make_robot(project_config, map_version="2026-11")
    got = []
    with SimServer(robot) as sim:
        link = RobotLink(sim.port, name="r1", on_event=got.append).start()
        try:
            assert link.wait_up(3)
            up = next(e for e in got if isinstance(e, LinkUp))
            assert up.hello.minor == 1 and up.hello.can("W") and up.hello.map_version == "2026-11"
        finally:
            link.stop()


def test_map_version_mismatch_makes_the_robot_unavailable(rig, project_config):
    r = project_config.robot
    cfg = project_config.model_copy(update={"robot": r.model_copy(update={"map_version": "2026-12"})})
    robot = make_robot(cfg, map_version="2026-10", speed_mps=10)
    ev = Events()
    with SimServer(robot) as sim:
        mgr = EscortManager(cfg, ports={"robot-1": sim.port})
        mgr.subscribe(ev)
        mgr.start()
        try:
            ev.wait("ROBOT_ALERT", alert="MAP_MISMATCH", timeout=5)
            assert mgr.status()["robots"][0]["unavailable_reason"] == "MAP_MISMATCH"
        finally:
            mgr.close()


def test_every_event_type_round_trips_through_to_dict():
    from robot.escort import (
        EVENT_TYPES,
        EscortResumed,
        EscortStalled,
        RobotAlert,
        RobotStatus,
        VisitorLost,
        event_from_dict,
    )

    base = dict(escort_id=3, robot="robot-1", counter_id=2, waypoint="counter_2", ticket="A001")
    events = [EscortStalled(**base, reason="OBSTACLE", stalled_s=8.2), VisitorLost(**base),
              EscortResumed(**base, cause="REBOOTED"), RobotAlert("robot-1", "ESTOP", "latched", 3),
              RobotStatus("robot-1", False, True, "ESTOP", 80, "ESTOP_ACTIVE", True, False)]
    for e in events:
        assert e.code in EVENT_TYPES and event_from_dict(e.to_dict()) == e


@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_a_robot_switched_on_after_the_kiosk_is_greeted_and_used(project_config, tcp):
    """Its own HELLO (no AUTH: nobody asked) is answered with the kiosk's HELLO and handshake."""
    robot = make_robot(project_config, boot_s=0.2, key=KEY if tcp else None)
    robot.stalled = True  # "off"
    with SimServer(robot, tcp_port=0 if tcp else None) as sim:
        link = RobotLink(sim.port, name="r1", key=KEY if tcp else None).start()
        try:
            time.sleep(2.5)  # the kiosk's HELLOs go unanswered
            assert not link.up
            with sim._lock:
                robot.stalled = False
                robot.reboot(time.monotonic())  # switched on: boots, says HELLO on its own
            assert link.wait_up(3), link.last_error
            assert link.incompatible is None and link.command("STATQ").code is p.AckCode.ACCEPTED
        finally:
            link.stop()

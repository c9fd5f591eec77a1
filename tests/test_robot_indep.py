"""Issue 15 against both robots: the conformance kit, and the kiosk's escort manager driving the
independent firmware of tests/indep_robot/ (written from docs/robot-protocol.md alone) through
its own fault flags, over a real pty and keyed TCP.

The reference simulator's side of the same findings is in tests/test_robot_resilience.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_robot_escort import Events, wait_for

from kiosk.cli import main
from robot.conformance import SECTIONS, run_from_config
from robot.escort import EscortManager
from robot.link import RobotLink
from robot.sim import SimServer, make_robot

ROOT = Path(__file__).resolve().parent.parent
INDEP = ROOT / "tests" / "indep_robot"
KEY = "correct horse battery"

needs_indep = pytest.mark.skipif(not (INDEP / "__main__.py").exists(), reason="tests/indep_robot/ is missing")


def centre_waypoints(cfg) -> str:
    """The centre's waypoint table in the independent robot's --waypoints list form."""
    return ",".join(f"{n}:{w.x}:{w.y}" for n, w in cfg.floor_map.waypoints.items())


class IndepRobot:
    """The independent firmware as a child process (its README says how to start it)."""

    def __init__(self, cfg, *flags: str, tcp: bool = False, key: str | None = None, speed: float = 1.0):
        args = [sys.executable, "-m", "tests.indep_robot", "--waypoints", centre_waypoints(cfg),
                "--speed", str(speed), "--dock-s", "0.3", "--boot-s", "0.3", "--seed", "15", *flags]
        args += ["--tcp", "127.0.0.1:0"] if tcp else ["--pty"]
        if key:
            args += ["--key", key]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = self.proc.stdout.readline().strip()
        if not self.port:
            self.stop()
            raise RuntimeError(f"the independent robot did not start: {self.proc.stderr.read()[-500:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


@pytest.fixture
def indep(project_config):
    made = []

    def start(*flags, **kw):
        r = IndepRobot(project_config, *flags, **kw)
        made.append(r)
        return r

    yield start
    for r in made:
        r.stop()


def with_robot(cfg, *, key: str | None = None, meet: str | None = "kiosk"):
    r = cfg.robot
    entry = r.robots[0].model_copy(update={"key": key})
    return cfg.model_copy(update={"robot": r.model_copy(update={"robots": [entry], "meet_waypoint": meet})})


@pytest.fixture
def manager(project_config):
    made = []

    def start(port: str, *, key: str | None = None, meet: str | None = "kiosk", wait: bool = True, **kw):
        cfg = with_robot(project_config, key=key, meet=meet)
        ev = Events()
        kw = {"follow_pause_s": 0.2, "arrive_pause_s": 0.2, "stall_s": 2.0, "stall_give_up_s": 6.0, **kw}
        mgr = EscortManager(cfg, ports={"robot-1": port}, **kw)
        mgr.subscribe(ev)
        mgr.start()
        made.append(mgr)
        if wait:
            assert mgr.wait_available(6), mgr.status()
        return mgr, ev

    yield start
    for m in made:
        m.close()


# -- 6. the conformance kit passes against both robots ----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_conformance_kit_passes_against_the_reference_simulator(project_config, tcp):
    robot = make_robot(project_config, speed_mps=2.0, dock_s=0.3, key=KEY if tcp else None)
    with SimServer(robot, tcp_port=0 if tcp else None) as sim:
        report = run_from_config(project_config, sim.port, key=KEY if tcp else None)
    assert report.passed, report.table()
    ran = {s.name: s.status for s in report.sections}
    assert list(ran) == list(SECTIONS)
    assert all(v == "pass" for k, v in ran.items() if k != "auth") and ran["auth"] == ("pass" if tcp else "skipped")


@pytest.mark.slow
@needs_indep
@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_conformance_kit_passes_against_the_independent_robot(project_config, indep, tcp):
    r = indep("--speed", "2.0", tcp=tcp, key=KEY if tcp else None)
    report = run_from_config(project_config, r.port, key=KEY if tcp else None)
    assert report.passed, report.table()
    assert all(s.status == "pass" for s in report.sections if s.name != "auth")


def test_conformance_kit_fails_a_version_1_robot(project_config):
    from robot.sim import Faults

    robot = make_robot(project_config, faults=Faults(legacy=True))
    with SimServer(robot) as sim:
        report = run_from_config(project_config, sim.port, sections=("hello", "heartbeat", "acks"))
    status = {s.name: s.status for s in report.sections}
    assert status == {"hello": "fail", "heartbeat": "fail", "acks": "pass"}
    assert any("boot id" in f for s in report.sections for f in s.failures)


def test_conformance_command_prints_json(project_config, capsys):
    with SimServer(make_robot(project_config)) as sim:
        rc = main(["robot", "conformance", sim.port, "--json", "--section", "acks", "--section", "window"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["passed"] and [s["section"] for s in out["sections"]] == ["acks", "window"]
    assert out["robot"]["protocol"] == "1.1"


def test_conformance_command_names_a_missing_port(capsys, tmp_path):
    assert main(["robot", "conformance", str(tmp_path / "ttyUSB9")]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- the kiosk against the independent robot: each finding ------------------------------------------


@needs_indep
@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_full_escort_against_the_independent_robot(indep, manager, tcp):
    r = indep("--speed", "6", tcp=tcp, key=KEY if tcp else None)
    mgr, ev = manager(r.port, key=KEY if tcp else None)
    st = mgr.status()["robots"][0]
    assert st["model"] == "INDEP-FW1" and st["protocol"] == "1.1" and st["unknown_waypoints"] == []
    eid = mgr.request_escort(2, ticket="A001")
    ev.wait("ESCORT_ARRIVED", eid, timeout=20)
    assert wait_for(lambda: mgr.status()["robots"][0]["state"] == "DOCKED", 20)


@needs_indep
def test_independent_robot_reboot_with_lost_hello_is_seen_in_2s(indep, manager):
    """Finding 1: the reboot is noticed from the heartbeat's boot id, the leg resumed."""
    r = indep("--speed", "3", "--drop-hello")
    mgr, ev = manager(r.port, meet=None)
    eid = mgr.request_escort(2)
    ev.wait("FOLLOW_ROBOT", eid)
    time.sleep(0.5)
    link = mgr._slots["robot-1"].link
    t0 = time.monotonic()
    link.send("REBOOT")  # the protocol's own restart (capability R)
    t1, _ = ev.wait("ROBOT_ALERT", alert="REBOOTED", timeout=5)
    assert t1 - t0 <= 2.0
    _, resumed = ev.wait("ESCORT_RESUMED", eid)
    assert resumed.cause == "REBOOTED"
    ev.wait("ESCORT_ARRIVED", eid, timeout=30)


@needs_indep
def test_independent_robot_rebooting_on_its_way_home_is_docked_again(indep, manager):
    r = indep("--speed", "4", "--drop-hello")
    mgr, ev = manager(r.port, meet=None)
    eid = mgr.request_escort(1)
    ev.wait("ESCORT_ARRIVED", eid, timeout=20)
    assert wait_for(lambda: mgr.status()["robots"][0]["state"] == "RETURNING", 5)
    mgr._slots["robot-1"].link.send("REBOOT")
    ev.wait("ROBOT_ALERT", alert="REBOOTED", timeout=5)
    assert wait_for(lambda: mgr.status()["robots"][0]["state"] == "DOCKED", 25)


@needs_indep
@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_independent_robot_estop_button_is_reported_at_once(indep, manager, tcp):
    """Finding 2: the button pressed mid-escort: ROBOT_STATUS with estop at once, escort ends."""
    r = indep("--speed", "1.0", "--estop-after", "4", tcp=tcp, key=KEY if tcp else None)
    mgr, ev = manager(r.port, meet=None, key=KEY if tcp else None)
    eid = mgr.request_escort(4)
    t_status, status = ev.wait("ROBOT_STATUS", estop=True, timeout=8)
    _, failed = ev.wait("ESCORT_FAILED", eid)
    assert failed.reason == "ESTOP_ACTIVE" and not status.available
    assert abs(ev.wait("ESCORT_FAILED", eid)[0] - t_status) <= 1.0


@needs_indep
def test_independent_robot_vendor_frames_and_empty_battery_are_accepted(indep, manager):
    """Finding 3: vendor sentences and extra fields are signs of life; an empty battery is 'unknown'."""
    r = indep("--speed", "4", "--unknown-frames", "--extra-fields", "--battery", "unknown")
    mgr, ev = manager(r.port)
    time.sleep(3.5)
    st = mgr.status()["robots"][0]
    assert st["link_up"] and st["battery"] is None and st["stats"]["bad_fields"] == 0
    assert st["stats"]["unknown_types"].get("XDIAG", 0) >= 1
    ev.wait("ESCORT_ARRIVED", mgr.request_escort(1), timeout=20)


@needs_indep
def test_independent_robot_unlocalised_is_denied(indep, manager):
    r = indep("--empty-position")
    mgr, ev = manager(r.port)
    _, failed = ev.wait("ESCORT_FAILED", mgr.request_escort(1))
    assert failed.reason == "LOCALIZATION_LOST"


@needs_indep
def test_independent_robot_stall_is_caught_by_the_watchdog(indep, manager):
    """Finding 4: a robot that keeps saying MOVING without moving: STALLED within stall_s + 1 s."""
    r = indep("--speed", "1.5", "--stall-after", "1.0", "--stall-for", "4")
    mgr, ev = manager(r.port, meet=None)
    eid = mgr.request_escort(4)
    t_req = time.monotonic()
    t1, stalled = ev.wait("ESCORT_STALLED", eid, timeout=8)
    assert stalled.reason == "STALLED" and stalled.show_map
    assert t1 - t_req <= 1.0 + 2.0 + 1.5
    ev.wait("ROBOT_ALERT", alert="STALLED")
    ev.wait("ESCORT_RESUMED", eid, timeout=8)


@needs_indep
def test_independent_robot_visitor_lost(indep, manager):
    r = indep("--speed", "1.5", "--visitor-lost-after", "1.0")
    mgr, ev = manager(r.port, meet=None)
    eid = mgr.request_escort(4)
    _, lost = ev.wait("VISITOR_LOST", eid, timeout=8)
    assert lost.show_map
    _, stalled = ev.wait("ESCORT_STALLED", eid, timeout=5)
    assert stalled.reason == "VISITOR_LOST"


@needs_indep
def test_independent_robot_low_battery_is_unavailable_before_a_goto(indep, manager):
    r = indep("--battery", "12")
    mgr, ev = manager(r.port, wait=False)
    assert wait_for(lambda: mgr.status()["robots"][0]["unavailable_reason"] == "LOW_BATTERY", 6)
    _, failed = ev.wait("ESCORT_FAILED", mgr.request_escort(1))
    assert failed.reason == "LOW_BATTERY"


@needs_indep
def test_independent_robot_keyed_tcp_refuses_a_wrong_key(indep, project_config):
    r = indep(tcp=True, key=KEY)
    link = RobotLink(r.port, name="r1", key="not the right key!!").start()
    try:
        time.sleep(2.5)
        assert not link.up and "key" in (link.incompatible or "")
    finally:
        link.stop()


@needs_indep
def test_monitor_follows_a_running_manager_without_opening_the_port(indep, project_config, tmp_config, capsys):
    """Finding 5: `kiosk robot monitor` reads the events file; the robot sees one session only."""
    r = indep("--speed", "4")
    cfg = with_robot(tmp_config)
    from robot.events import default_path

    mgr = EscortManager(cfg, ports={"robot-1": r.port}, event_log=default_path(cfg), follow_pause_s=0.2,
                        arrive_pause_s=0.2)
    mgr.start()
    try:
        assert mgr.wait_available(6)
        ev = Events()
        mgr.subscribe(ev)
        ev.wait("ESCORT_ARRIVED", mgr.request_escort(1), timeout=20)
        from types import SimpleNamespace

        from kiosk.commands.robot import cmd_monitor

        args = SimpleNamespace(wire=False, seconds=0.6, json=True, last=500)
        assert cmd_monitor(args, SimpleNamespace(config=cfg)) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        codes = [x["code"] for x in lines]
        assert "ROBOT_STATUS" in codes and "ESCORT_ARRIVED" in codes
        assert mgr.status()["robots"][0]["link_up"]  # the monitor did not take the port
    finally:
        mgr.close()


@needs_indep
def test_cli_goto_and_dock_keep_the_independent_robot_on_its_goal(indep, capsys):
    """Finding 5: the CLI stays (heartbeats going) until the RESULT: no LINK_LOST abort."""
    r = indep("--speed", "3")
    assert main(["robot", "goto", "kiosk", "--port", r.port]) == 0
    out = capsys.readouterr().out
    assert "GOTO kiosk: ACCEPTED" in out and out.strip().endswith("SUCCEEDED") and "LINK_LOST" not in out
    assert main(["robot", "dock", "--port", r.port]) == 0
    assert capsys.readouterr().out.strip().endswith("SUCCEEDED")


@pytest.mark.slow
@needs_indep
def test_a_slow_booting_robot_is_resumed_once_it_has_booted(indep, manager):
    """Its heartbeats say BOOT with the new boot id for 7 s: the leg is re-sent after, not lost to
    the retries (3 rounds of 2 s) that a booting robot ignores."""
    r = indep("--speed", "3", "--boot-s", "7")  # at power-up too
    mgr, ev = manager(r.port, meet=None, wait=False)
    assert mgr.wait_available(12)
    eid = mgr.request_escort(2)
    ev.wait("FOLLOW_ROBOT", eid)
    time.sleep(0.5)
    mgr._slots["robot-1"].link.send("REBOOT")
    ev.wait("ROBOT_ALERT", alert="REBOOTED", timeout=5)
    _, resumed = ev.wait("ESCORT_RESUMED", eid, timeout=12)
    assert resumed.cause == "REBOOTED"
    ev.wait("ESCORT_ARRIVED", eid, timeout=20)
    assert "ESCORT_FAILED" not in ev.codes(eid)


def test_conformance_quick_goto_cancels_after_feedback(project_config):
    robot = make_robot(project_config, speed_mps=0.7, dock_s=0.3)
    with SimServer(robot) as sim:
        report = run_from_config(project_config, sim.port, sections=("goto",), quick=True)
    assert report.passed, report.table()
    assert robot.verbs["CANCEL"] == 1 and str(robot.state) == "IDLE"

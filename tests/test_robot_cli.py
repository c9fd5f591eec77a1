"""`kiosk robot ...` commands and the robot lines of `kiosk doctor` (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from kiosk.cli import main
from kiosk.commands import robot as robot_cmd
from robot.sim import SimServer, make_robot


def test_status_json_against_a_simulator(sim, capsys):
    assert main(["robot", "status", "--json", "--port", sim.port]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["link_up"] and out["state"] == "DOCKED" and out["waypoint"] == "dock" and out["protocol"] == 1


def test_status_with_port_sim_starts_its_own_simulator(capsys):
    assert main(["robot", "status"]) == 0
    captured = capsys.readouterr()
    assert "state        DOCKED" in captured.out and "started a simulator" in captured.err


def test_goto_counter_waits_for_the_result(sim, capsys):
    assert main(["robot", "goto", "2", "--port", sim.port]) == 0
    out = capsys.readouterr().out
    assert "GOTO counter_2: ACCEPTED" in out and out.strip().endswith("SUCCEEDED")
    assert main(["robot", "dock", "--port", sim.port]) == 0
    assert main(["robot", "cancel", "--port", sim.port]) == 0
    assert main(["robot", "reset", "--port", sim.port]) == 0


def test_goto_refused_exits_1(project_config, capsys):
    robot = make_robot(project_config)
    robot.waypoints.pop("restroom")
    with SimServer(robot) as s:
        assert main(["robot", "goto", "restroom", "--port", s.port]) == 1
    assert "DENIED (UNKNOWN_WAYPOINT)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["robot", "goto", "42"], "no counter 42"),
        (["robot", "goto", "moon"], "neither a counter id nor a waypoint"),
        (["robot", "status", "--port", "bogus://x"], "protocol 'bogus' not known"),
        (["robot", "status", "--port", "/nonexistent/ttyUSB0"], "does not exist"),
        (["robot", "status", "--robot", "robot-9"], "no robot named 'robot-9'"),
        (["robot", "sim", "--drop", "2"], "--drop is a share"),
        (["robot", "sim", "--block", "moon"], "not in floor_map.waypoints"),
    ],
)
def test_bad_input_gets_a_plain_error(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_monitor_prints_decoded_frames_both_ways(sim, capsys):
    assert main(["robot", "monitor", "--wire", "--port", sim.port, "--seconds", "1.2"]) == 0
    out = capsys.readouterr().out
    assert "kiosk -> robot  HELLO" in out and "robot -> kiosk  HB" in out


def _ctx(cfg):
    return SimpleNamespace(config=cfg)


def test_doctor_lines(project_config, tmp_path):
    (line,) = robot_cmd.doctor(_ctx(project_config))
    assert line.ok and "simulator" in line.message

    def with_port(port):
        r = project_config.robot
        entry = r.robots[0].model_copy(update={"port": port})
        return project_config.model_copy(update={"robot": r.model_copy(update={"robots": [entry]})})

    (line,) = robot_cmd.doctor(_ctx(with_port(str(tmp_path / "ttyUSB0"))))
    assert not line.ok and "does not exist" in line.message
    (line,) = robot_cmd.doctor(_ctx(with_port("bogus://x")))
    assert not line.ok and "config.yaml" in line.message
    (line,) = robot_cmd.doctor(_ctx(with_port("socket://10.0.0.5:7070")))
    assert not line.ok and "robot.robots[].key" in line.message  # issue 15: an open TCP port
    off = project_config.model_copy(update={"robot": project_config.robot.model_copy(update={"enabled": False})})
    (line,) = robot_cmd.doctor(_ctx(off))
    assert line.ok and "floor map" in line.message


@pytest.mark.slow
def test_robot_sim_command_prints_its_port_serves_and_obeys_its_console(capsys):
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "robot", "sim", "--speed", "5"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.endswith("robot.tty")
        assert main(["robot", "status", "--json", "--port", port]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "DOCKED"
        proc.stdin.write("estop\n")
        proc.stdin.flush()
        time.sleep(0.3)
        assert main(["robot", "status", "--json", "--port", port]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["state"] == "ESTOP" and out["estop"] is True
        assert main(["robot", "reset", "--port", port]) == 1  # the button is still pressed: DENIED
        proc.stdin.write("release\n")
        proc.stdin.flush()
        time.sleep(0.3)
        assert main(["robot", "reset", "--port", port]) == 0
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)


def test_monitor_stopped_by_sigterm_cleans_up_its_simulator():
    """QA: `timeout 8 kiosk robot monitor` (port 'sim') left /tmp/robot-sim-*/ behind: SIGTERM
    killed the process before the simulator it started for the command was stopped."""
    import re
    import signal
    from pathlib import Path

    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "robot", "monitor", "--wire"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"simulator on (\S+)/robot\.tty", line)
        assert m, line
        folder = Path(m.group(1))
        assert folder.exists()
        time.sleep(1.5)  # a heartbeat or two
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not folder.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_waypoints_prints_the_centre_table_for_a_vendor(project_config, capsys):
    assert main(["robot", "waypoints"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if not x.startswith("#")]
    assert "dock 2 2" in lines and len(lines) == len(project_config.floor_map.waypoints)
    assert main(["robot", "waypoints", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counter_3"] == {"x": 16.0, "y": 11.0}


def test_goto_no_wait_is_gone(capsys):
    """Issue 15: `goto --no-wait` left a goal without heartbeats (the robot aborted it 3 s later)."""
    with pytest.raises(SystemExit) as exc:
        main(["robot", "goto", "2", "--no-wait"])
    assert exc.value.code == 2 and "--no-wait" in capsys.readouterr().err


def test_dock_waits_for_the_robot_to_dock(sim, capsys):
    assert main(["robot", "goto", "1", "--port", sim.port]) == 0
    capsys.readouterr()
    assert main(["robot", "dock", "--port", sim.port]) == 0
    out = capsys.readouterr().out
    assert "DOCK: ACCEPTED" in out and out.strip().endswith("SUCCEEDED")
    assert str(sim.robot.state) == "DOCKED"

"""`kiosk robot monitor` says plainly when what it watches goes away, and keeps waiting.

Without --wire it follows the robot events file of a running kiosk (robot/events.py): a kiosk
that stops (closes the file), is killed (its process gone) or was never started is said so,
in Vietnamese then English, and the monitor waits for it (exit status 1 when the kiosk was
not running at the end). With --wire it holds the link itself: a robot unplugged is said so.
The kiosk's side here is a real `EventLog` (what the escort manager writes) or a real
process holding one; the robot is the simulator on a real pty.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

from kiosk.cli import main
from kiosk.commands.robot import cmd_monitor
from robot import events
from robot.escort import EscortManager, RobotStatus


def monitor(cfg, seconds: float, as_json: bool = False) -> int:
    args = SimpleNamespace(wire=False, seconds=seconds, json=as_json, last=10)
    return cmd_monitor(args, SimpleNamespace(config=cfg))


def status(link_up: bool = True) -> RobotStatus:
    return RobotStatus(
        robot="robot-1",
        available=link_up,
        link_up=link_up,
        state="DOCKED" if link_up else "UNKNOWN",
        battery=90,
        reason="" if link_up else "no heartbeat for 3.0 s",
    )


def later(seconds: float, fn) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(seconds), fn()), daemon=True)
    t.start()
    return t


def test_a_kiosk_that_stops_is_said_so_and_awaited(tmp_config, capsys):
    kiosk = events.EventLog(events.default_path(tmp_config))
    kiosk(status())
    t = later(0.8, kiosk.close)
    assert monitor(tmp_config, 2.5) == 1  # not running at the end
    t.join()
    out, err = capsys.readouterr()
    assert "ROBOT_STATUS" in out
    assert "ki-ốt đã dừng lúc" in out and "the kiosk stopped at" in out
    assert out.index("ki-ốt") < out.index("the kiosk stopped")  # Vietnamese first
    assert "waiting for it to start again" in out
    assert "the kiosk is running" in err  # said once at the start, beside the header


def test_a_kiosk_started_again_is_said_so(tmp_config, capsys):
    path = events.default_path(tmp_config)
    events.EventLog(path).close()  # an earlier run
    later(1.2, lambda: events.EventLog(path))  # the kiosk starts again while the monitor waits
    assert monitor(tmp_config, 3.5) == 0  # checks once a second: room for a loaded machine
    out = capsys.readouterr().out
    assert out.index("the kiosk stopped at") < out.index("the kiosk is running (since")


def test_no_kiosk_yet_is_said_so(tmp_config, capsys):
    assert monitor(tmp_config, 0.5) == 1
    out = capsys.readouterr().out
    assert "chưa có ki-ốt nào" in out and "waiting for one to start" in out


def test_a_killed_kiosk_is_told_from_a_stopped_one(tmp_config, capsys):
    path = events.default_path(tmp_config)
    code = f"from robot import events; events.EventLog({str(path)!r}); print('ready', flush=True); input()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert events.writer_state(path).running
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    st = events.writer_state(path)
    assert st.state == "gone" and st.pid == proc.pid
    assert monitor(tmp_config, 0.5, as_json=True) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[-1]["code"] == "KIOSK_GONE" and lines[-1]["pid"] == proc.pid
    assert "ended without stopping" in lines[-1]["message"] and "tắt đột ngột" in lines[-1]["message_vi"]


def test_a_running_kiosk_keeps_the_exit_status_0_and_json_clean(tmp_config, capsys):
    kiosk = events.EventLog(events.default_path(tmp_config))
    try:
        kiosk(status(link_up=False))
        assert monitor(tmp_config, 0.6, as_json=True) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [x["code"] for x in lines] == ["ROBOT_STATUS"]
        assert monitor(tmp_config, 0.6) == 0
        assert "mất liên lạc với robot / no link to the robot" in capsys.readouterr().out
    finally:
        kiosk.close()


def test_writer_state_silent_and_beats(tmp_config, monkeypatch):
    path = events.default_path(tmp_config)
    kiosk = events.EventLog(path)
    try:
        st = events.writer_state(path)
        assert st.running
        hung = events.writer_state(path, now=time.time() + events.SILENT_S + 1)
        assert hung.state == "silent"  # no beat for SILENT_S: a hung kiosk
        monkeypatch.setattr(events, "BEAT_S", 0.0)
        kiosk._next_beat = 0.0
        time.sleep(0.05)
        kiosk.beat()
        beat = events.writer_state(path, now=time.time() + events.SILENT_S - 0.5)
        assert beat.running  # the beat moved "last heard" on
    finally:
        kiosk.close()
    assert events.writer_state(path).state == "stopped"


def test_the_escort_manager_marks_the_kiosk_running_then_stopped(tmp_config, monkeypatch):
    monkeypatch.setattr(events, "BEAT_S", 0.1)
    monkeypatch.setattr(events, "SILENT_S", 1.0)
    path = events.default_path(tmp_config)
    cfg = tmp_config.model_copy(update={"robot": tmp_config.robot.model_copy(update={"enabled": False})})
    mgr = EscortManager(cfg, event_log=path).start()
    try:
        time.sleep(1.5)  # longer than SILENT_S: only the manager's beats keep it "running"
        assert events.writer_state(path).running
    finally:
        mgr.close()
    assert events.writer_state(path).state == "stopped"


def test_wire_monitor_says_the_robot_was_unplugged(sim, capsys):
    later(1.0, sim.unplug)
    assert main(["robot", "monitor", "--wire", "--port", sim.port, "--seconds", "5"]) == 1
    out, err = capsys.readouterr()
    assert "robot -> kiosk  ACK" in out  # the frames as before
    assert "mất liên lạc với robot" in out and "link to the robot lost" in out
    assert "waiting for it to answer again" in out
    assert "no link to the robot" in err


def test_wire_monitor_says_the_link_came_back(sim, capsys):
    later(1.0, sim.unplug)
    later(2.0, sim.replug)
    assert main(["robot", "monitor", "--wire", "--port", sim.port, "--seconds", "6"]) == 0
    out = capsys.readouterr().out
    assert out.index("link to the robot lost") < out.index("the link to the robot is back")

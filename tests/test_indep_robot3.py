"""Third independent firmware (tests/indep_robot3/, written from docs/robot-protocol.md alone).

Fast tests pin the firmware's own readings of the places the document leaves open (its README,
A1-A12). Slow tests start the firmware as a process on a real pty and on keyed TCP (and a keyed
pty) and run `kiosk robot conformance --json` against it as a subprocess: every section must
pass (none fails for an ambiguity today, so nothing is xfail).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from indep_robot3 import keyed
from indep_robot3.frames import Decoder, Frame, checksum, encode, frame_length
from indep_robot3.robot import ALL, Close, Robot, Send

ROOT = Path(__file__).resolve().parent.parent
KIT = Path(sys.executable).parent / "kiosk"
KEY = "correct horse battery staple"
SECTIONS = ["hello", "heartbeat", "acks", "duplicates", "window", "waypoints", "goto", "dock",
            "estop", "reboot", "link_loss", "framing"]


# ----- fast: framing and the handshake ---------------------------------------------------


def test_worked_example_and_test_vector():
    assert encode(12, "GOTO", ["4711", "counter_3"]) == b"$PXVK,12,GOTO,4711,counter_3*1E\r\n"
    assert keyed.mac_r("correct horse battery", "5f3a9c01", "a1b2c3d4", "9f2c41d0") == \
        "81ca9f249f69c125"
    assert keyed.mac_k("correct horse battery", "5f3a9c01", "a1b2c3d4") == "20877fdda3243aab"


def _frame_of_length(n: int) -> bytes:
    """A frame with a right checksum of exactly n bytes (padding in a trailing field)."""
    body = "PXVK,1,XPAD," + "a" * (n - len("$PXVK,1,XPAD,*HH\r\n"))
    raw = f"${body}*{checksum(body):02X}\r\n".encode()
    assert len(raw) == n
    return raw


def test_decoder_length_limit_and_bad_bytes():
    d = Decoder()
    assert len(d.feed(_frame_of_length(82))) == 1  # the 82nd byte is the LF: valid
    assert d.feed(_frame_of_length(83)) == [] and d.drops["too_long"] == 1
    good = encode(5, "STATQ", ["42"])
    assert d.feed(good.replace(b"\r\n", b" \r\n")) == []  # anything after *HH: malformed
    assert d.feed(b"noise" + good[:10] + good) == [Frame(5, "STATQ", ("42",))]
    assert d.feed(good.replace(b"STATQ", b"STA\rQ")) == []  # a CR inside is a bad character
    assert d.feed(good.replace(b"*", b"*0")) == []


# ----- fast: the core's readings of the open places ----------------------------------------


def _robot(key: str | None = None) -> tuple[Robot, list[float]]:
    clock = [100.0]
    robot = Robot(clock[0], key=key, speed=5.0)
    robot.connect(1)
    return robot, clock


def _cmd(robot: Robot, clock, type_: str, *fields: str, conn: int = 1) -> list[Send | Close]:
    robot.receive(conn, Frame(0, type_, tuple(fields)), clock[0])
    return robot.drain()


def _run(robot: Robot, clock, seconds: float, heartbeat_conn: int | None = 1) -> None:
    end = clock[0] + seconds
    while clock[0] < end:
        clock[0] += 0.1
        if heartbeat_conn is not None and int(clock[0] * 10) % 10 == 0:
            robot.receive(heartbeat_conn, Frame(0, "HB", ()), clock[0])
        robot.tick(clock[0])
    robot.drain()


def _acks(out) -> list[list[str]]:
    return [a.fields for a in out if isinstance(a, Send) and a.type == "ACK"]


def test_preemption_order_ack_result_status():
    robot, clock = _robot()
    assert _acks(_cmd(robot, clock, "GOTO", "10", "counter_4")) == [["10", "ACCEPTED", ""]]
    _run(robot, clock, 1.0)
    out = _cmd(robot, clock, "DOCK", "11")
    assert [a.type for a in out] == ["ACK", "RESULT", "STATUS"]
    assert out[1].fields == ["10", "CANCELED", ""] and out[2].fields[0] == "RETURNING"


def test_repeated_id_same_ack_not_executed_again():
    robot, clock = _robot()
    first = _acks(_cmd(robot, clock, "CHECK", "7", "nowhere"))
    again = _acks(_cmd(robot, clock, "CHECK", "7", "kiosk"))
    assert first == again == [["7", "DENIED", "UNKNOWN_WAYPOINT"]]
    assert _acks(_cmd(robot, clock, "STATQ", "0042")) == []  # malformed id: no answer


def test_status_too_long_empties_heading_then_waypoint_keeps_estop_flag():
    robot, clock = _robot()
    robot.waypoints["abcdefghijklmnop"] = robot.waypoints.pop("dock")
    robot.goal_id, robot.goal_status, robot.goal_reason = "99999", "ABORTED", "X" * 17
    robot.latched, robot.state, robot.x, robot.y = True, "ESTOP", -123.4, -567.8
    robot.waypoints["abcdefghijklmnop"] = (-123.4, -567.8)
    fields = robot.status_fields()
    assert frame_length(999, "STATUS", fields) <= 82
    assert len(fields) == 10 and fields[8] == "1" and fields[9] == "" and fields[7] == ""
    assert fields[4] == "X" * 17  # the reason is emptied only if still too long


def test_stranger_commands_do_not_hold_an_arrived_robot():
    """README A4: only the authenticated connection's commands restart the 60 s of 6.1."""
    robot, clock = _robot(key=KEY)
    robot.sessions[1].authenticated = True
    robot.connect(2)  # a stranger, never authenticated
    _cmd(robot, clock, "GOTO", "20", "kiosk")
    _run(robot, clock, 2.0)
    assert robot.state == "ARRIVED"
    for i in range(62):
        assert _acks(_cmd(robot, clock, "STATQ", str(100 + i), conn=2)) == \
            [[str(100 + i), "DENIED", "AUTH_REQUIRED"]]
        _run(robot, clock, 1.0)
    assert robot.state in ("RETURNING", "DOCKING", "DOCKED")


def test_kiosk_statq_holds_an_arrived_robot():
    robot, clock = _robot()
    _cmd(robot, clock, "GOTO", "20", "kiosk")
    _run(robot, clock, 2.0)
    for i in range(7):
        _cmd(robot, clock, "STATQ", str(100 + i))
        _run(robot, clock, 10.0)
    assert robot.state == "ARRIVED"
    _run(robot, clock, 61.0)
    assert robot.state in ("RETURNING", "DOCKING", "DOCKED")


def test_second_authentication_closes_the_first():
    robot, clock = _robot(key=KEY)
    robot.connect(2)
    for conn in (1, 2):
        out = _cmd(robot, clock, "HELLO", str(conn), "1", "K", "1", "5F3A9C01", conn=conn)
        auth = [a for a in out if isinstance(a, Send) and a.type == "AUTH"][0]
        nonce, mac = auth.fields
        assert mac == keyed.mac_r(KEY, "5F3A9C01", nonce, robot.boot_id)
        out = _cmd(robot, clock, "AUTH", str(10 + conn), keyed.mac_k(KEY, "5F3A9C01", nonce),
                   conn=conn)
        assert _acks(out) == [[str(10 + conn), "ACCEPTED", ""]]
    assert any(isinstance(a, Close) and a.conn == 1 for a in out)
    second = _cmd(robot, clock, "AUTH", "13", "0" * 16, conn=2)
    assert _acks(second) == [["13", "DENIED", "AUTH_FAILED"]] and robot.authenticated(2)


def test_heartbeats_go_to_every_connection():
    robot, clock = _robot()
    robot.tick(clock[0] + 1.5)
    assert [a.dest for a in robot.drain() if isinstance(a, Send) and a.type == "HB"] == [ALL]


# ----- slow: the firmware as a process, the kit as a subprocess ------------------------------


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.indep_robot3", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line and line[0] in ("PTY", "TCP"), line
    return proc, line[1]


def _kit(port: str, *args: str, timeout: float = 400) -> dict:
    run = subprocess.run([str(KIT), "robot", "conformance", port, "--json", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    return json.loads(run.stdout)


def _by_section(report: dict) -> dict[str, dict]:
    return {s["section"]: s for s in report["sections"]}


@pytest.fixture(scope="module", params=["pty", "keyed_pty", "keyed_tcp"])
def kit_report(request):
    if request.param == "pty":
        proc, where = _start("--pty")
        port, extra = where, ()
    elif request.param == "keyed_pty":
        proc, where = _start("--pty", "--key", KEY)
        port, extra = where, ("--key", KEY)
    else:
        proc, where = _start("--tcp", "0", "--key", KEY)
        port, extra = f"socket://127.0.0.1:{where}", ("--key", KEY)
    try:
        time.sleep(0.5)
        yield request.param, _kit(port, *extra)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("section", SECTIONS)
def test_conformance_section_passes(kit_report, section):
    _, report = kit_report
    result = _by_section(report)[section]
    assert result["status"] == "pass", result["failures"]
    assert result["checks"] > 0


@pytest.mark.slow
def test_conformance_auth_section(kit_report):
    transport, report = kit_report
    auth = _by_section(report)["auth"]
    if transport == "pty":
        assert auth["status"] == "skipped"
    else:
        assert auth["status"] == "pass", auth["failures"]
    assert report["passed"] is True
    assert report["robot"]["capabilities"] == ("SWCR" if transport == "pty" else "SWCRA")


@pytest.mark.slow
def test_conformance_idle_long_check_on_a_pty():
    proc, path = _start("--pty")
    try:
        time.sleep(0.5)
        report = _kit(path, "--long", "--section", "idle")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    idle = _by_section(report)["idle"]
    assert idle["status"] == "pass", idle["failures"]


@pytest.mark.slow
def test_tcp_strangers_cannot_lock_out_the_kiosk():
    """README A5: a fifth connection closes the oldest unauthenticated one instead of failing."""
    proc, port = _start("--tcp", "0", "--key", KEY)
    socks = []
    try:
        for _ in range(4):
            socks.append(socket.create_connection(("127.0.0.1", int(port)), timeout=2))
        time.sleep(0.3)
        fifth = socket.create_connection(("127.0.0.1", int(port)), timeout=3)
        socks.append(fifth)
        assert b"$PXVK," in fifth.recv(200)  # served: its first heartbeat
        socks[0].settimeout(3)
        closed = False
        while not closed:
            try:
                closed = socks[0].recv(4096) == b""
            except ConnectionResetError:
                closed = True
            except TimeoutError:
                break
        assert closed  # the oldest stranger's connection was closed
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(timeout=10)


OTHER_MAYS = [
    ("--close-on-reboot", "reboot"),  # README A1: 12.3 "on TCP it MAY close the connection"
    ("--quiet-to-strangers", "reboot"),  # README A1: 13 "MAY get HB, STATUS and the boot HELLO"
    ("--one-connection", "link_loss"),  # README A13: 13 "MAY instead accept only one connection"
]


@pytest.mark.slow
@pytest.mark.parametrize(("reading", "section"), OTHER_MAYS)
def test_the_other_may_passes_the_kit(reading, section):
    proc, port = _start("--tcp", "0", "--key", KEY, reading)
    try:
        time.sleep(0.5)
        report = _kit(f"socket://127.0.0.1:{port}", "--key", KEY, "--section", section)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    result = _by_section(report)[section]
    assert result["status"] == "pass", result["failures"]


@pytest.mark.slow
def test_one_connection_at_a_time_passes_the_kit_auth_section():
    """13's other MAY: the waiting connection is served once the silent one is closed (3 s)."""
    proc, port = _start("--tcp", "0", "--key", KEY, "--one-connection")
    try:
        time.sleep(0.5)
        report = _kit(f"socket://127.0.0.1:{port}", "--key", KEY, "--section", "auth")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    auth = _by_section(report)["auth"]
    assert auth["status"] == "pass", auth["failures"]

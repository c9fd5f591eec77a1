"""Self-test of the independent robot firmware (tests/indep_robot), as a raw client written from
docs/robot-protocol.md: frames are built and checked here with the spec's checksum rule, not with
the firmware's own code. Real pty and TCP; plus a few behaviour checks on a fake clock.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import select
import socket
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAME_RE = re.compile(rb"^\$([ -~]*)\*([0-9A-F]{2})\r\n$")
KEY = "correct horse battery"


def xor(body: bytes) -> int:
    value = 0
    for byte in body:
        value ^= byte
    return value


def frame(seq: int, *parts: str) -> bytes:
    body = ",".join(["PXVK", str(seq), *parts]).encode("ascii")
    return b"$" + body + b"*%02X\r\n" % xor(body)


def check(raw: bytes) -> list[str]:
    """A received frame, checked against section 2; returns [TYPE, fields...]."""
    assert len(raw) <= 82, raw
    match = FRAME_RE.match(raw)
    assert match, f"not a well-formed frame with an upper-case checksum: {raw!r}"
    assert xor(match.group(1)) == int(match.group(2), 16), raw
    parts = match.group(1).decode("ascii").split(",")
    assert parts[0] == "PXVK" and re.fullmatch(r"\d{1,3}", parts[1]) and int(parts[1]) <= 999, raw
    assert re.fullmatch(r"[A-Z]{2,8}", parts[2]), raw
    return parts[2:]


class Client:
    """The kiosk's side, minimal: send frames, collect checked frames."""

    def __init__(self, read, write) -> None:
        self._read, self._write = read, write
        self.seq = 0
        self.buf = b""
        self.frames: list[list[str]] = []

    def send(self, *parts: str) -> None:
        self._write(frame(self.seq, *parts))
        self.seq += 1

    def poll(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.buf += self._read(max(0.0, end - time.monotonic()))
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                start = line.find(b"$")
                self.frames.append(check(line[start:] + b"\n"))

    def wait(self, predicate, seconds: float = 2.0) -> list[str]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for f in self.frames:
                if predicate(f):
                    self.frames.remove(f)
                    return f
            self.poll(0.05)
        raise AssertionError(f"no such frame within {seconds} s; got {self.frames[-10:]}")

    def ack(self, cid: int, seconds: float = 0.5) -> list[str]:
        return self.wait(lambda f: f[0] == "ACK" and f[1] == str(cid), seconds)


def start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.indep_robot", *args, "--seed", "7"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture()
def pty_robot():
    proc, path = start("--pty")
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)

    def read(timeout: float) -> bytes:
        ready, _, _ = select.select([fd], [], [], min(timeout, 0.05))
        return os.read(fd, 4096) if ready else b""

    client = Client(read, lambda data: os.write(fd, data))
    client.wait(lambda f: f[0] == "HELLO", 3.0)  # the robot's own HELLO when it has booted
    client.frames.clear()
    yield client
    os.close(fd)
    stop(proc)


def test_pty_hello_status_and_framing(pty_robot: Client) -> None:
    c = pty_robot
    c.send("HELLO", "4710", "1", "KIOSK", "1", "")
    assert c.ack(4710)[2:] == ["ACCEPTED", ""]
    hello = c.wait(lambda f: f[0] == "HELLO")
    assert hello[1] == "1" and re.fullmatch(r"[A-Za-z0-9_-]{1,8}", hello[3])
    assert len(hello) == 8 and hello[5] == "1" and "W" in hello[6]
    status = c.wait(lambda f: f[0] == "STATUS")
    assert status[1:5] == ["DOCKED", "100", "", "NONE"] and status[9] == "0"
    c.send("STATQ", "4711")
    assert c.ack(4711)[2] == "ACCEPTED"
    status = c.wait(lambda f: f[0] == "STATUS")
    assert len(status) == 11 and status[6] and status[7] and status[8] == "dock"
    hb = c.wait(lambda f: f[0] == "HB", 1.5)
    assert hb[1] == "DOCKED" and hb[6] == hello[3] and hb[7] in ("0", "1")


def test_pty_corrupt_frame_unanswered_and_duplicate_acked_again(pty_robot: Client) -> None:
    c = pty_robot
    c.send("HELLO", "20", "1", "KIOSK", "1", "")
    c.ack(20)
    bad = bytearray(frame(99, "STATQ", "21"))
    bad[-4] = ord("0") if bad[-4] != ord("0") else ord("1")  # wrong checksum
    c._write(bytes(bad))
    c.poll(0.6)
    assert not [f for f in c.frames if f[0] == "ACK" and f[1] == "21"]
    c.send("CHECK", "22", "counter_3")
    c.send("CHECK", "22", "counter_3")
    first, second = c.ack(22), c.ack(22)
    assert first == second == ["ACK", "22", "ACCEPTED", ""]
    c.send("XFOO", "23")
    assert c.ack(23)[2:] == ["UNSUPPORTED", "XFOO"]


@pytest.fixture()
def tcp_robot(tmp_path: Path):
    keyfile = tmp_path / "key"
    keyfile.write_text(KEY + "\n")
    proc, url = start("--tcp", "127.0.0.1:0", "--key", str(keyfile))
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    time.sleep(0.6)
    socks = []

    def connect() -> Client:
        sock = socket.create_connection((host, int(port)), timeout=2)
        socks.append(sock)

        def read(timeout: float) -> bytes:
            ready, _, _ = select.select([sock], [], [], min(timeout, 0.05))
            return sock.recv(4096) if ready else b""

        return Client(read, sock.sendall)

    yield connect
    for sock in socks:
        sock.close()
    stop(proc)


def macs(kiosk_nonce: str, robot_nonce: str, boot_id: str) -> tuple[str, str]:
    def mac(msg: str) -> str:
        return hmac.new(KEY.encode(), msg.encode(), hashlib.sha256).hexdigest()[:16]

    return mac(f"XVK1|R|{kiosk_nonce}|{robot_nonce}|{boot_id}"), mac(f"XVK1|K|{kiosk_nonce}|{robot_nonce}")


def test_mac_test_vector_of_the_spec() -> None:
    assert macs("5f3a9c01", "a1b2c3d4", "9f2c41d0") == ("81ca9f249f69c125", "20877fdda3243aab")


def test_tcp_keyed_handshake(tcp_robot) -> None:
    c = tcp_robot()
    c.send("STATQ", "5")
    assert c.ack(5)[2:] == ["DENIED", "AUTH_REQUIRED"]
    c.send("HELLO", "6", "1", "KIOSK", "1", "5f3a9c01")
    c.ack(6)
    hello = c.wait(lambda f: f[0] == "HELLO")
    assert "A" in hello[6]
    auth = c.wait(lambda f: f[0] == "AUTH")
    want_r, want_k = macs("5f3a9c01", auth[1], hello[3])
    assert auth[2] == want_r
    c.send("AUTH", "7", "0000000000000000")
    assert c.ack(7)[2:] == ["DENIED", "AUTH_FAILED"]
    c.send("HELLO", "8", "1", "KIOSK", "1", "0badcafe")
    c.ack(8)
    auth = c.wait(lambda f: f[0] == "AUTH")
    want_r, want_k = macs("0badcafe", auth[1], hello[3])
    assert auth[2] == want_r
    c.send("AUTH", "9", want_k.upper())
    assert c.ack(9)[2] == "ACCEPTED"
    c.send("STATQ", "10")
    assert c.ack(10)[2] == "ACCEPTED"


# ---------------------------------------------------------------- behaviour on a fake clock
class FakeLink:
    def __init__(self, keyed: bool = False) -> None:
        self.keyed, self.name, self.sent, self.closed = keyed, "fake", [], False

    def send(self, msg_type: str, fields: list[str]) -> None:
        self.sent.append([msg_type, *fields])

    def reset_seq(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self, msg_type: str) -> list[list[str]]:
        got = [f for f in self.sent if f[0] == msg_type]
        self.sent = [f for f in self.sent if f[0] != msg_type]
        return got


def robot(**cfg):
    sys.path.insert(0, str(ROOT))
    from tests.indep_robot.firmware import Config, Firmware
    from tests.indep_robot.wire import Frame

    fw = Firmware(Config(**cfg), 0.0)
    link = FakeLink()
    fw.attach(link)
    clock = [0.0]

    def run(seconds: float, heartbeats: bool = True) -> None:
        end = clock[0] + seconds
        while clock[0] < end - 1e-9:
            clock[0] = round(clock[0] + 0.05, 3)
            if heartbeats and abs(clock[0] % 1.0) < 1e-6:
                fw.on_frame(link, Frame(0, "HB", ()), clock[0])
            fw.tick(clock[0])

    def cmd(*parts: str) -> None:
        fw.on_frame(link, Frame(0, parts[0], tuple(parts[1:])), clock[0])

    run(1.0)
    cmd("HELLO", "1", "1", "K", "1", "")
    return fw, link, run, cmd


def test_goto_feedback_result_and_busy() -> None:
    fw, link, run, cmd = robot(speed=1.0)
    cmd("GOTO", "2", "kiosk")  # 3.5 m from the dock in the default table
    cmd("GOTO", "3", "counter_1")
    acks = link.take("ACK")
    assert acks[-2][2:] == ["ACCEPTED", ""] and acks[-1][2] == "BUSY" and acks[-1][3].isdigit()
    run(2.0)
    fbs = link.take("FB")
    assert 3 <= len(fbs) <= 5 and float(fbs[-1][2]) < float(fbs[0][2])
    run(2.0)
    assert link.take("RESULT") == [["RESULT", "2", "SUCCEEDED", ""]]
    assert fw.state == "ARRIVED"
    cmd("GOTO", "4", "kiosk")  # where it stands: succeeds at once
    assert link.take("RESULT") == [["RESULT", "4", "SUCCEEDED", ""]]


def test_link_loss_aborts_and_returns_to_dock() -> None:
    fw, link, run, cmd = robot(speed=1.0)
    cmd("GOTO", "2", "counter_1")
    run(2.0)
    run(4.0, heartbeats=False)
    assert link.take("RESULT") == [["RESULT", "2", "ABORTED", "LINK_LOST"]]
    assert fw.state == "RETURNING"
    run(20.0, heartbeats=False)
    assert fw.state == "DOCKED" and fw.goal_status == "ABORTED"


def test_estop_latch_survives_reboot() -> None:
    fw, link, run, cmd = robot()
    cmd("ESTOP", "2")
    assert link.take("STATUS")[-1][1] == "ESTOP"
    boot_id = fw.boot_id
    cmd("REBOOT", "3")
    run(0.4)
    link.sent.clear()
    run(1.1)
    assert fw.boot_id != boot_id and fw.state == "ESTOP"
    assert all(hb[1] == "ESTOP" for hb in link.take("HB"))  # even while booting (section 9)
    cmd("HELLO", "10", "1", "K", "1", "")
    cmd("GOTO", "11", "kiosk")
    cmd("RESET", "12")
    assert [a[2:] for a in link.take("ACK")][-2:] == [["DENIED", "ESTOP_ACTIVE"], ["ACCEPTED", ""]]
    assert fw.state == "DOCKED"


def test_visitor_lost_then_aborted_after_30_s() -> None:
    fw, link, run, cmd = robot(speed=0.5, visitor_lost_after=1.0)
    cmd("GOTO", "5", "kiosk")  # no lead field: fetching the visitor, nobody to lose
    run(3.0)
    assert {tuple(f[4:]) for f in link.take("FB")} == {("MOVING", "")}
    run(6.0)
    assert link.take("RESULT") == [["RESULT", "5", "SUCCEEDED", ""]]
    cmd("GOTO", "2", "counter_4", "1")
    run(3.0)
    fb = link.take("FB")[-1]
    assert fb[4:] == ["WAITING", "VISITOR_LOST"] and fb[3] == ""
    run(30.0)
    assert link.take("RESULT") == [["RESULT", "2", "ABORTED", "VISITOR_LOST"]]
    assert fw.state == "IDLE"


def test_blocked_way_waits_recovers_then_aborts() -> None:
    fw, link, run, cmd = robot(blocked=("restroom",))
    cmd("GOTO", "2", "restroom")
    run(8.0)
    words = {tuple(f[4:]) for f in link.take("FB")}
    assert {("MOVING", ""), ("WAITING", "OBSTACLE"), ("RECOVERING", "REPLANNING")} <= words
    assert link.take("RESULT") == [["RESULT", "2", "ABORTED", "BLOCKED"]]


def test_window_and_ack_cases_without_motion() -> None:
    fw, link, run, cmd = robot()
    link.sent.clear()
    for cid, parts in enumerate(
        [("CHECK", "dock"), ("CHECK", ""), ("CANCEL",), ("CANCEL", "77"), ("RESET",), ("GOTO", "nowhere"),
         ("GOTO", ""), ("DOCK",), ("SAY", "FOLLOW_ME"), ("AUTH", "00")],
        start=100,
    ):
        cmd(parts[0], str(cid), *parts[1:])
    acks = [a[1:] for a in link.take("ACK")]
    assert acks == [
        ["100", "ACCEPTED", ""], ["101", "FAILED", "BAD_ARGUMENT"], ["102", "ACCEPTED", "NO_GOAL"],
        ["103", "ACCEPTED", "NO_GOAL"], ["104", "ACCEPTED", "NOT_LATCHED"], ["105", "DENIED", "UNKNOWN_WAYPOINT"],
        ["106", "FAILED", "BAD_ARGUMENT"], ["107", "ACCEPTED", ""], ["108", "ACCEPTED", ""],
        ["109", "DENIED", "AUTH_FAILED"],
    ]
    assert link.take("RESULT") == [["RESULT", "107", "SUCCEEDED", ""]]  # DOCK while docked


def test_dock_while_returning_carries_on() -> None:
    fw, link, run, cmd = robot(speed=1.0)
    cmd("GOTO", "2", "counter_2")
    run(3.0)
    cmd("DOCK", "3")
    run(1.0)
    cmd("DOCK", "4")
    assert link.take("RESULT") == [["RESULT", "2", "CANCELED", ""], ["RESULT", "3", "CANCELED", ""]]
    assert fw.state == "RETURNING" and fw.motion.gid == 4
    run(15.0)
    assert link.take("RESULT") == [["RESULT", "4", "SUCCEEDED", ""]] and fw.state == "DOCKED"


def test_unlocalised_status_is_the_spec_example() -> None:
    fw, link, run, cmd = robot(battery=None, unlocalised=True)
    cmd("STATQ", "2")
    assert link.take("STATUS")[-1][1:] == ["IDLE", "", "", "NONE", "", "", "", "", "0", ""]
    cmd("GOTO", "3", "kiosk")
    cmd("DOCK", "4")
    assert [a[2:] for a in link.take("ACK")][-2:] == [["DENIED", "LOCALIZATION_LOST"]] * 2


def test_long_status_is_trimmed_from_the_end() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.indep_robot.wire import make_frame

    fields = ["RETURNING", "100", "99999", "ABORTED", "LOCALIZATION_LOST", "-123.4", "-123.4", "p" * 16, "1", "359.9"]
    raw = make_frame(999, "STATUS", fields)
    got = check(raw)
    assert len(raw) <= 82 and got[1:] == fields[: len(got) - 1] and len(got) - 1 < len(fields)


def test_second_authenticated_connection_closes_the_first(tcp_robot) -> None:
    clients = [tcp_robot(), tcp_robot()]
    for n, c in enumerate(clients):
        c.send("HELLO", f"{n + 1}0", "1", "KIOSK", "1", "5f3a9c01")
        hello = c.wait(lambda f: f[0] == "HELLO")
        auth = c.wait(lambda f: f[0] == "AUTH")
        c.send("AUTH", f"{n + 1}1", macs("5f3a9c01", auth[1], hello[3])[1])
        assert c.ack(int(f"{n + 1}1"))[2] == "ACCEPTED"
    with pytest.raises((OSError, AssertionError)):
        for _ in range(20):
            clients[0].send("STATQ", "99")
            clients[0].ack(99, 0.1)
            clients[0].frames.clear()
    clients[1].send("STATQ", "30")
    assert clients[1].ack(30)[2] == "ACCEPTED"


def test_version_1_mode_sends_no_1_1_fields() -> None:
    fw, link, run, cmd = robot(v1=True)
    hello = link.take("HELLO")[-1]
    cmd("WPQ", "2")
    cmd("CANCEL", "3")
    run(1.0)
    assert len(hello) == 5 and hello[1] == "1"
    assert [a[2:] for a in link.take("ACK")][-2:] == [["UNSUPPORTED", "WPQ"], ["ACCEPTED", ""]]
    assert {len(hb) for hb in link.take("HB")} == {6} and len(link.take("STATUS")[-1]) == 11


def test_waypoints_file_in_the_kiosk_robot_waypoints_format(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.indep_robot.world import load_waypoints

    table = tmp_path / "wps.txt"
    table.write_text("# centre waypoints: metres\ndock 2 2\nkiosk 4 3\ncounter_1 8 11\n")
    points = load_waypoints(str(table))
    assert [(w.name, w.x, w.y) for w in points] == [("dock", 2.0, 2.0), ("kiosk", 4.0, 3.0), ("counter_1", 8.0, 11.0)]
    fw, link, run, cmd = robot(waypoints=points)
    cmd("WPQ", "2")
    assert link.take("WP")[-1] == ["WP", "3", "3", "counter_1", "8.0", "11.0"]


def test_localisation_lost_is_a_fault_reset_does_not_clear() -> None:
    fw, link, run, cmd = robot(speed=1.0, lose_localisation_after=3.0, lose_localisation_for=5.0)
    cmd("GOTO", "2", "counter_1")
    run(2.5)
    assert link.take("RESULT") == [["RESULT", "2", "ABORTED", "LOCALIZATION_LOST"]]
    status = link.take("STATUS")[-1]
    assert status[1] == "FAULT" and status[6:8] == ["", ""]
    cmd("ESTOP", "3")
    cmd("RESET", "4")
    cmd("GOTO", "5", "kiosk")
    assert fw.state == "FAULT" and link.take("ACK")[-1][2:] == ["DENIED", "LOCALIZATION_LOST"]
    run(5.0)
    assert fw.state == "IDLE" and fw.pos is not None

"""Round 11 of the robot link: several TCP connections, half-open links, the kit's idle check and
the protocol points a vendor could still read two ways (docs/robot-protocol.md, change log 18).

Real TCP sockets (a small proxy stands for the network: it can "pull the cable", leaving both ends'
connections open and silent) and real ptys; the simulator runs in-process (robot/sim.py).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from robot import protocol as p
from robot.conformance import LONG_SECTIONS, SECTIONS, run_from_config
from robot.link import LinkDown, LinkUp, RobotLink
from robot.protocol import AckCode, RobotState
from robot.sim import Faults, SimRobot, SimServer, make_robot

KEY = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[1]


# -- helpers ------------------------------------------------------------------------------------


class Client:
    """A raw TCP client of the simulator: sends frames by hand, keeps every robot message."""

    def __init__(self, port: str):
        host, _, num = port.removeprefix("socket://").rpartition(":")
        self.sock = socket.create_connection((host, int(num)), timeout=2)
        self.enc = p.Encoder()
        self.dec = p.StreamDecoder()
        self.msgs: list[tuple[float, object]] = []
        self.eof = False
        self.cond = threading.Condition()
        self._ids = 100
        self._beat = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._heartbeat, daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.eof = True
                    self.cond.notify_all()
                    return
                for f in self.dec.feed(data):
                    with contextlib.suppress(p.ProtocolError):
                        self.msgs.append((time.monotonic(), p.parse_robot_message(f)))
                self.cond.notify_all()

    def _heartbeat(self) -> None:
        while not self._stop.wait(0.5):
            if self._beat.is_set():
                with contextlib.suppress(OSError):
                    self.sock.sendall(self.enc.frame("HB"))

    def beat(self, on: bool = True) -> None:
        (self._beat.set if on else self._beat.clear)()

    def send(self, verb: str, *args) -> int:
        self._ids += 1
        self.sock.sendall(self.enc.frame(verb, self._ids, *args))
        return self._ids

    def wait(self, pred, timeout: float = 2.0, after: float = 0.0):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, m in self.msgs:
                    if at >= after and pred(m):
                        return m
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def ack(self, cid: int, timeout: float = 2.0) -> p.Ack | None:
        return self.wait(lambda m: isinstance(m, p.Ack) and m.cmd_id == cid, timeout)

    def wait_eof(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.eof, timeout)

    def handshake(self, key: str | None = KEY) -> p.Ack | None:
        """HELLO (with a nonce when keyed) and AUTH; the AUTH's ack (the HELLO's without a key)."""
        nonce = "5f3a9c01" if key else ""
        t0 = time.monotonic()
        hid = self.send("HELLO", 1, "TEST", 1, nonce)
        if not key:
            return self.ack(hid)
        auth = self.wait(lambda m: isinstance(m, p.Auth), 2.0, t0)
        assert auth is not None, "no AUTH after a HELLO with a nonce"
        return self.ack(self.send("AUTH", p.kiosk_mac(key, nonce, auth.nonce)))

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()


class Proxy:
    """A TCP hop between the kiosk and the robot. `pull_cable()` makes every open connection
    silent both ways without closing either end (what a pulled cable or a rebooted PC does to
    TCP); connections made afterwards work. `mute` makes new connections silent too."""

    def __init__(self, target_port: str):
        host, _, num = target_port.removeprefix("socket://").rpartition(":")
        self.target = (host, int(num))
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = f"socket://127.0.0.1:{self.ls.getsockname()[1]}"
        self.accepted: list[float] = []
        self.mute = False
        self._pairs: list[dict] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.ls.settimeout(0.1)
        while not self._stop.is_set():
            try:
                a, _ = self.ls.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(time.monotonic())
            pair = {"cut": self.mute, "socks": [a]}
            if not self.mute:
                pair["socks"].append(socket.create_connection(self.target))
                for src, dst in ((pair["socks"][0], pair["socks"][1]), (pair["socks"][1], pair["socks"][0])):
                    threading.Thread(target=self._pump, args=(src, dst, pair), daemon=True).start()
            self._pairs.append(pair)

    def _pump(self, src: socket.socket, dst: socket.socket, pair: dict) -> None:
        while not self._stop.is_set():
            try:
                data = src.recv(4096)
            except OSError:
                data = b""
            if not data:
                if not pair["cut"]:  # a close passes through a live hop; a cut one swallows it
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                return
            if not pair["cut"]:
                with contextlib.suppress(OSError):
                    dst.sendall(data)

    def pull_cable(self) -> None:
        for pair in self._pairs:
            pair["cut"] = True

    def close(self) -> None:
        self._stop.set()
        for pair in self._pairs:
            for s in pair["socks"]:
                with contextlib.suppress(OSError):
                    s.close()
        self.ls.close()


class Events:
    def __init__(self):
        self.items: list[tuple[float, object]] = []
        self.cond = threading.Condition()

    def __call__(self, ev) -> None:
        with self.cond:
            self.items.append((time.monotonic(), ev))
            self.cond.notify_all()

    def wait(self, pred, timeout: float, after: float = 0.0):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, ev in self.items:
                    if t >= after and pred(ev):
                        return t, ev
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def _sim(project_config, *, key: str | None = KEY, tcp: bool = True, faults: Faults | None = None, **kw) -> SimServer:
    kw.setdefault("speed_mps", 5.0)
    kw.setdefault("dock_s", 0.2)
    robot = make_robot(project_config, key=key, faults=faults or Faults(), **kw)
    return SimServer(robot, tcp_port=0 if tcp else None).start()


# -- 1. several connections: the second that authenticates closes the first (section 13) --------


def test_a_second_connection_that_authenticates_closes_the_first(project_config):
    sim = _sim(project_config)
    first = second = None
    try:
        first = Client(sim.port)
        first.beat()
        assert first.handshake().code is AckCode.ACCEPTED
        # the first connection's peer is gone without a FIN (half-open): it sends nothing more
        first.beat(False)
        second = Client(sim.port)  # the old simulator never accepted this one: it waited for the first
        second.beat()
        assert second.handshake().code is AckCode.ACCEPTED
        assert first.wait_eof(2.0), "the first connection was not closed when the second authenticated"
        assert sim.stats["superseded"] == 1 and sim.connections == 1
        ack = second.ack(second.send("STATQ"))
        assert ack is not None and ack.code is AckCode.ACCEPTED
    finally:
        for c in (first, second):
            if c:
                c.close()
        sim.stop()


def test_an_unauthenticated_second_connection_neither_closes_the_first_nor_keeps_the_robot_alive(project_config):
    """A stranger (no key) gets HB and STATUS but no FB or RESULT; its frames are no sign of life:
    when the kiosk's connection goes quiet the goal still ends ABORTED,LINK_LOST (sections 10, 13)."""
    sim = _sim(project_config, speed_mps=0.5)
    kiosk = stranger = None
    try:
        kiosk = Client(sim.port)
        kiosk.beat()
        assert kiosk.handshake().code is AckCode.ACCEPTED
        stranger = Client(sim.port)
        stranger.beat()
        t0 = time.monotonic()
        stranger.send("HELLO", 1, "X", 1, "")
        denied = stranger.ack(stranger.send("GOTO", "counter_1"))
        assert denied == p.Ack(denied.cmd_id, AckCode.DENIED, "AUTH_REQUIRED")
        gid = kiosk.send("GOTO", "counter_3")
        assert kiosk.ack(gid).code is AckCode.ACCEPTED
        assert kiosk.wait(lambda m: isinstance(m, p.Feedback) and m.goal_id == gid, 2.0) is not None
        assert stranger.wait(lambda m: type(m) is p.Heartbeat, 2.0, t0) is not None
        assert stranger.wait(lambda m: isinstance(m, p.Feedback | p.Result), 0.5) is None
        assert not kiosk.eof and sim.connections == 2
        kiosk.beat(False)  # the kiosk goes quiet; the stranger keeps beating
        t1 = time.monotonic()
        end = kiosk.wait(lambda m: isinstance(m, p.Result) and m.goal_id == gid, 6.0, t1)
        assert end is not None and (end.status.value, end.reason) == ("ABORTED", "LINK_LOST")
        assert stranger.wait(lambda m: isinstance(m, p.Result), 0.2) is None
    finally:
        for c in (kiosk, stranger):
            if c:
                c.close()
        sim.stop()


def test_without_a_key_the_connection_that_says_hello_takes_over(project_config):
    sim = _sim(project_config, key=None)
    a = b = None
    try:
        a = Client(sim.port)
        assert a.handshake(None).code is AckCode.ACCEPTED
        b = Client(sim.port)
        time.sleep(0.3)
        assert not a.eof  # a connection alone does not take over
        assert b.handshake(None).code is AckCode.ACCEPTED
        assert a.wait_eof(2.0)
    finally:
        for c in (a, b):
            if c:
                c.close()
        sim.stop()


def test_the_kiosk_reconnects_through_a_half_open_connection(project_config):
    """Cable pulled between kiosk and robot: both TCP ends stay open and silent. The kiosk's link
    notices the missing heartbeats (3 s), closes, reconnects; the robot closes the old half-open
    connection when the new one authenticates. Before round 11 the simulator served one
    connection at a time, so the kiosk's new connection waited for a close that never came."""
    sim = _sim(project_config)
    proxy = Proxy(sim.port)
    ev = Events()
    link = RobotLink(proxy.port, name="r1", key=KEY, on_event=ev).start()
    try:
        assert link.wait_up(5)
        t0 = time.monotonic()
        proxy.pull_cable()
        down = ev.wait(lambda e: isinstance(e, LinkDown), 5.0, t0)
        assert down is not None and down[0] - t0 <= 3.6
        up = ev.wait(lambda e: isinstance(e, LinkUp), 6.0, t0)
        assert up is not None, f"no reconnection: {link.last_error}"
        assert link.command("STATQ").code is AckCode.ACCEPTED
        assert len(proxy.accepted) >= 2 and sim.stats["superseded"] == 1
        deadline = time.monotonic() + 2
        while sim.connections != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.connections == 1  # the half-open one was closed by the robot
    finally:
        link.stop()
        proxy.close()
        sim.stop()


def test_a_silent_tcp_robot_is_reconnected_with_growing_back_off(project_config):
    """Every connection accepted, nothing ever answered (a hung robot, a dead far end): the link
    closes each after missed_heartbeats x heartbeat_s and waits 0.1 s doubling to reconnect_max_s."""
    sim = _sim(project_config, heartbeat_s=0.2)
    proxy = Proxy(sim.port)
    proxy.mute = True
    link = RobotLink(proxy.port, name="r1", key=KEY, heartbeat_s=0.2, missed_heartbeats=3,
                     reconnect_max_s=0.8).start()
    try:
        time.sleep(6.0)
        gaps = [b - a for a, b in zip(proxy.accepted, proxy.accepted[1:], strict=False)]
        assert len(gaps) >= 4, gaps
        # silence 0.6 s + back-off 0.1, 0.2, 0.4, 0.8, 0.8 ... (plus scheduling on a loaded machine)
        assert all(g >= 0.6 + 0.1 for g in gaps), gaps
        assert all(b > a - 0.15 for a, b in zip(gaps, gaps[1:], strict=False)), gaps
        assert gaps[-1] - gaps[0] >= 0.4 and max(gaps) <= 0.6 + 0.8 + 0.6, gaps
        assert "reconnecting" in (link.last_error or "")
        proxy.mute = False  # the network is back: the next connection works
        assert link.wait_up(6), link.last_error
    finally:
        link.stop()
        proxy.close()
        sim.stop()


def test_a_silent_robot_on_a_pty_is_down_then_up_without_reopening_the_port(project_config):
    """On a serial line the link never reopens for silence (reopening can reset a board through
    DTR and a serial line is never half-open): down after 3 s, up again when the robot talks."""
    sim = _sim(project_config, key=None, tcp=False)
    ev = Events()
    link = RobotLink(sim.port, name="r1", on_event=ev).start()
    try:
        assert link.wait_up(5)
        t0 = time.monotonic()
        sim.set_stalled(True)
        down = ev.wait(lambda e: isinstance(e, LinkDown), 5.0, t0)
        assert down is not None and down[0] - t0 <= 3.6
        time.sleep(1.5)
        assert link.stats.opens == 1 and link.connected
        sim.set_stalled(False)
        up = ev.wait(lambda e: isinstance(e, LinkUp), 4.0, down[0])
        assert up is not None and link.stats.opens == 1
    finally:
        link.stop()
        sim.stop()


# -- 2. the kit's idle check (section 6.1) -----------------------------------------------------


def _kit_idle(project_config, faults: Faults, *, tcp: bool = False, wait_s: float = 4.0):
    key = KEY if tcp else None
    robot = make_robot(project_config, speed_mps=5.0, dock_s=0.2, idle_return_s=2.0, key=key, faults=faults)
    with SimServer(robot, tcp_port=0 if tcp else None) as sim:
        report = run_from_config(project_config, sim.port, key=key, sections=("idle",), idle_wait_s=wait_s)
    return {s.name: s for s in report.sections}, report


def test_the_kit_idle_check_fails_a_robot_that_returns_home_from_idle(project_config):
    """The simulator with `idle_returns` does what tests/indep_robot2 did (README A6): after its
    return time without a command it leaves IDLE on its own. The kit catches it."""
    sections, report = _kit_idle(project_config, Faults(idle_returns=True))
    idle = sections["idle"]
    assert idle.status == "fail", report.table()
    assert any("moved by itself" in f for f in idle.failures), idle.failures


@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp-keyed"])
def test_the_kit_idle_check_passes_the_reference_robot(project_config, tcp):
    sections, report = _kit_idle(project_config, Faults(), tcp=tcp)
    assert sections["idle"].status == "pass", report.table()
    assert sections["idle"].checks >= 5


def test_the_idle_check_is_long_and_off_by_default(project_config):
    robot = make_robot(project_config)
    with SimServer(robot) as sim:
        report = run_from_config(project_config, sim.port, sections=("acks",))
    assert [s.name for s in report.sections] == ["acks"]
    assert any("idle" in n and "--long" in n for n in report.notes)
    assert "idle" not in SECTIONS and "idle" in LONG_SECTIONS
    assert "--long" in report.table()


def test_the_arrived_return_counts_60_s_from_the_last_command():
    """6.1: ARRIVED returns after 60 s without a command (any but HB), not 60 s after arriving."""
    r = SimRobot({"dock": (0.0, 0.0), "kiosk": (1.0, 0.0)}, speed_mps=1.0, idle_return_s=60.0)
    r.tick(0.0)
    hb = p.decode_frame(p.encode_frame(0, "HB"))

    def run(a: float, b: float) -> None:
        t = a
        while t <= b:
            r.handle(hb, t)
            r.tick(t)
            t += 0.5

    r.handle(p.decode_frame(p.encode_frame(1, "GOTO", 1, "kiosk")), 0.0)
    run(0.5, 2.0)
    assert r.state is RobotState.ARRIVED
    r.handle(p.decode_frame(p.encode_frame(2, "STATQ", 2)), 50.0)
    run(2.5, 105.0)
    assert r.state is RobotState.ARRIVED  # 55 s after the STATQ
    run(105.5, 112.0)
    assert r.state in (RobotState.RETURNING, RobotState.DOCKING, RobotState.DOCKED)


@pytest.mark.slow
def test_the_long_kit_catches_the_second_independent_firmware_returning_from_idle(tmp_path):
    """Real time (about 80 s): tests/indep_robot2 returns home after 60 s without a command from
    IDLE too (its README, A6); `kiosk robot conformance --long --section idle` fails it."""
    link = str(tmp_path / "tty")
    fw = subprocess.Popen([sys.executable, "-m", "tests.indep_robot2", "--pty", "--link", link], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True)
    try:
        fw.stdout.readline()
        time.sleep(0.5)
        kiosk = str(Path(sys.executable).with_name("kiosk"))
        run = subprocess.run([kiosk, "robot", "conformance", link, "--json", "--section", "idle"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    finally:
        fw.terminate()
        fw.wait(timeout=10)
    import json

    report = json.loads(run.stdout)
    idle = next(s for s in report["sections"] if s["section"] == "idle")
    assert idle["status"] == "fail", idle
    assert any("moved by itself" in f for f in idle["failures"]), idle["failures"]
    assert run.returncode == 1


@pytest.mark.slow
def test_the_long_kit_passes_the_first_independent_firmware(project_config, tmp_path):
    """Real time: tests/indep_robot returns from ARRIVED only, 60 s after the last command."""
    table = ",".join(f"{n}:{w.x}:{w.y}" for n, w in project_config.floor_map.waypoints.items())
    fw = subprocess.Popen([sys.executable, "-m", "tests.indep_robot", "--waypoints", table, "--speed", "2.0",
                           "--dock-s", "0.3", "--boot-s", "0.3", "--pty"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    try:
        port = fw.stdout.readline().strip()
        report = run_from_config(project_config, port, sections=("idle",))
    finally:
        fw.terminate()
        fw.wait(timeout=10)
    assert [s.name for s in report.sections] == ["idle"]
    assert report.passed, report.table()


@pytest.mark.slow
def test_the_long_kit_passes_the_reference_robot_in_real_time(project_config):
    robot = make_robot(project_config, speed_mps=2.0, dock_s=0.3)
    with SimServer(robot) as sim:
        report = run_from_config(project_config, sim.port, sections=(), long=True)
    assert [s.name for s in report.sections] == ["idle"]
    assert report.passed, report.table()


# -- 1b. the kit's second-connection check (auth section, TCP) ----------------------------------


def _kit_auth(project_config, faults: Faults):
    robot = make_robot(project_config, speed_mps=5.0, dock_s=0.2, key=KEY, faults=faults)
    with SimServer(robot, tcp_port=0) as sim:
        report = run_from_config(project_config, sim.port, key=KEY, sections=("auth", "acks"))
    return {s.name: s for s in report.sections}, report


def test_the_kit_passes_a_robot_that_closes_the_first_connection(project_config):
    sections, report = _kit_auth(project_config, Faults())
    assert sections["auth"].status == "pass", report.table()
    assert any("second connection served" in n for n in sections["auth"].notes)
    assert sections["acks"].status == "pass", report.table()  # the run goes on over the second connection


def test_the_kit_fails_a_robot_that_serves_one_connection_and_never_drops_a_silent_one(project_config):
    """The round-10 simulator (`single_connection`): a kiosk whose connection went half-open
    could not get its robot back. The kit's auth section now says so."""
    sections, report = _kit_auth(project_config, Faults(single_connection=True))
    auth = sections["auth"]
    assert auth.status == "fail", report.table()
    assert any("second connection" in f for f in auth.failures), auth.failures


# -- 3. points a vendor could read two ways (change log item 18) --------------------------------


def _frame(body: str) -> bytes:
    cs = 0
    for c in body.encode():
        cs ^= c
    return f"${body}*{cs:02X}\r\n".encode()


def test_the_checksum_is_followed_directly_by_the_line_end():
    dec = p.StreamDecoder()
    good = dec.feed(b"$PXVK,14,HB*1A\r\n") + dec.feed(b"$PXVK,14,HB*1a\r\n") + dec.feed(b"$PXVK,14,HB*1A\n")
    assert len(good) == 3
    for raw in (b"$PXVK,14,HB*1A \r\n", b"$PXVK,14,HB*1A0\r\n", b"$PXVK,14,HB*A\r\n"):
        dec = p.StreamDecoder()
        assert dec.feed(raw) == [] and sum(dec.dropped.values()) == 1, raw


def test_a_seq_with_leading_zeros_is_accepted_and_answered():
    r = SimRobot({"dock": (0.0, 0.0), "kiosk": (1.0, 0.0)})
    r.tick(0.0)
    frames = p.StreamDecoder().feed(_frame("PXVK,007,STATQ,41"))
    assert frames and frames[0].seq == 7
    out = r.handle(frames[0], 0.1)
    assert p.Ack(41, AckCode.ACCEPTED) in out and any(isinstance(m, p.Status) for m in out)
    assert p.Encoder().frame("HB").startswith(b"$PXVK,0,")  # senders write no leading zero


def test_numbers_are_written_as_section_2_says_and_negative_positions_are_read():
    assert p._fmt(-0.04) == "0.0" and p._fmt(-0.5) == "-0.5"
    ok = p.decode_frame(_frame("PXVK,3,STATUS,IDLE,50,,NONE,,-0.5,-12.0,,0,90.0"))
    assert p.number_form_errors(ok) == []
    st = p.parse_robot_message(ok)
    assert (st.x, st.y) == (-0.5, -12.0)
    bad = p.decode_frame(_frame("PXVK,3,STATUS,IDLE,50,,NONE,,.5,+1,,0,-90"))
    assert p.number_form_errors(bad) == ["STATUS field 6 '.5'", "STATUS field 7 '+1'", "STATUS field 10 '-90'"]
    assert p.number_form_errors(p.decode_frame(_frame("PXVK,4,HB,IDLE,-5,,NONE,,ab,0"))) == ["HB field 2 '-5'"]
    # the reference robot off the drawn map writes its position with a '-', and nothing the kit fails
    r = SimRobot({"dock": (0.0, 0.0), "edge": (-0.5, 3.0)}, speed_mps=10.0)
    r.tick(0.0)
    r.handle(p.decode_frame(_frame("PXVK,1,GOTO,5,edge")), 0.0)
    for t in (0.2, 0.4, 0.6):
        r.tick(t)
    raw = p.Encoder().message(r.status())
    assert b",-0.5,3.0," in raw and p.number_form_errors(p.decode_frame(raw)) == []


def test_any_kiosk_name_of_0_to_16_name_characters_is_answered():
    r = SimRobot({"dock": (0.0, 0.0)})
    r.tick(0.0)
    for i, name in enumerate(("", "KIOSK", "phuong_1-kiosk_2")):
        out = r.handle(p.decode_frame(_frame(f"PXVK,{i},HELLO,{10 + i},1,{name},1,")), 0.1)
        assert out[0] == p.Ack(10 + i, AckCode.ACCEPTED) and isinstance(out[1], p.Hello), name


def test_a_used_id_with_another_command_gets_the_first_ack_and_nothing_is_done():
    r = SimRobot({"dock": (0.0, 0.0), "kiosk": (1.0, 0.0)})
    r.tick(0.0)
    first = r.handle(p.decode_frame(_frame("PXVK,1,CHECK,7,nowhere")), 0.1)
    assert first == [p.Ack(7, AckCode.DENIED, "UNKNOWN_WAYPOINT")]
    assert r.handle(p.decode_frame(_frame("PXVK,2,CHECK,7,kiosk")), 0.2) == first
    assert r.handle(p.decode_frame(_frame("PXVK,3,GOTO,7,kiosk")), 0.3) == first
    assert r.state is RobotState.DOCKED and r.goal is None


def test_a_hello_keeps_the_running_goal():
    r = SimRobot({"dock": (0.0, 0.0), "far": (10.0, 0.0)}, speed_mps=1.0)
    r.tick(0.0)
    r.handle(p.decode_frame(_frame("PXVK,1,GOTO,5,far")), 0.0)
    r.tick(1.0)
    out = r.handle(p.decode_frame(_frame("PXVK,2,HELLO,6,1,KIOSK,1,")), 1.1)
    st = next(m for m in out if isinstance(m, p.Status))
    assert st.state is RobotState.GUIDING and st.goal_id == 5 and st.goal_status is p.GoalStatus.ACTIVE
    assert not any(isinstance(m, p.Result) for m in out)


def test_estop_with_a_goal_sends_ack_then_result_then_status():
    r = SimRobot({"dock": (0.0, 0.0), "far": (10.0, 0.0)}, speed_mps=1.0)
    r.tick(0.0)
    r.handle(p.decode_frame(_frame("PXVK,1,GOTO,5,far")), 0.0)
    r.tick(1.0)
    out = r.handle(p.decode_frame(_frame("PXVK,2,ESTOP,6")), 1.1)
    assert [type(m).__name__ for m in out] == ["Ack", "Result", "Status"]
    assert out[1] == p.Result(5, p.GoalStatus.ABORTED, "ESTOP_ACTIVE") and out[2].estop


def test_an_estop_received_while_booting_is_latched_and_acknowledged():
    r = SimRobot({"dock": (0.0, 0.0)}, boot_s=1.0)
    r.tick(0.0)
    r.reboot(1.0)
    assert r.state is RobotState.BOOT
    out = r.handle(p.decode_frame(_frame("PXVK,1,ESTOP,9")), 1.2)
    assert out == [p.Ack(9, AckCode.ACCEPTED)]
    assert r.handle(p.decode_frame(_frame("PXVK,2,STATQ,10")), 1.3) == []  # other commands MAY be ignored
    booted = r.tick(2.1)
    assert r.state is RobotState.ESTOP and r.estop_latched
    assert any(isinstance(m, p.Status) and m.estop for m in booted)
    again = r.handle(p.decode_frame(_frame("PXVK,3,ESTOP,9")), 2.2)  # the kiosk's retry: same ack
    assert again == [p.Ack(9, AckCode.ACCEPTED)]


def test_an_upper_case_kiosk_nonce_is_valid_and_used_as_received():
    r = SimRobot({"dock": (0.0, 0.0)}, key=KEY)
    r.tick(0.0)
    out = r.handle(p.decode_frame(_frame("PXVK,1,HELLO,3,1,K,1,5F3A9C01")), 0.1)
    auth = next(m for m in out if isinstance(m, p.Auth))
    assert auth.mac == p.robot_mac(KEY, "5F3A9C01", auth.nonce, r.boot_id)
    assert auth.mac != p.robot_mac(KEY, "5f3a9c01", auth.nonce, r.boot_id)
    mac_k = p.kiosk_mac(KEY, "5F3A9C01", auth.nonce).upper()  # upper-case mac digits too
    assert r.handle(p.decode_frame(_frame(f"PXVK,2,AUTH,4,{mac_k}")), 0.2) == [p.Ack(4, AckCode.ACCEPTED)]


@pytest.mark.parametrize(("delay_ms", "passes"), [(150, True), (900, False)])
def test_the_kit_holds_a_robot_to_the_half_second_ack(project_config, delay_ms, passes):
    """Section 5: an ACK within 0.5 s of the command (the kit allows 0.25 s for the round trip):
    a robot whose frames leave 150 ms late passes `acks`, one 900 ms late fails it."""
    robot = make_robot(project_config, faults=Faults(delay_ms=delay_ms))
    with SimServer(robot) as sim:
        report = run_from_config(project_config, sim.port, sections=("acks",))
    acks = report.sections[0]
    assert (acks.status == "pass") is passes, report.table()
    if not passes:
        assert any("no ACK within 0.5 s" in f for f in acks.failures), acks.failures

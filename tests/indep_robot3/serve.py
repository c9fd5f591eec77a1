"""Transports: the robot on a pseudo-terminal (a serial line) or on TCP (keyed).

One thread, one ``select`` loop: read what came, feed each connection's decoder, hand the
frames to the robot core, tick it every 20 ms and write out what it says. Each connection
has its own ``seq`` counter (section 2).
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time
import tty

from .frames import Decoder, encode
from .robot import ALL, AUTHED, Close, Robot, Send

TICK_S = 0.02
MAX_TCP_CONNECTIONS = 4
SILENT_CLOSE_S = 3.0  # 3 missed kiosk heartbeats (10, 13)


class Conn:
    """One connection: how to write to it, its decoder and its seq counter."""

    def __init__(self, cid: int, fd: int, sock: socket.socket | None = None) -> None:
        self.cid = cid
        self.fd = fd
        self.sock = sock
        self.decoder = Decoder()
        self.seq = 0
        self.last_rx = time.monotonic()

    def frame(self, type_: str, fields: list[str]) -> bytes:
        raw = encode(self.seq, type_, fields)
        self.seq = (self.seq + 1) % 1000
        return raw

    def write(self, data: bytes) -> bool:
        """Write all bytes; False when the connection is gone."""
        try:
            if self.sock is not None:
                self.sock.sendall(data)
            else:
                os.write(self.fd, data)
        except BlockingIOError:
            return True  # nobody reads the pty: the frame is lost, as on a serial line
        except OSError:
            return False
        return True


class Server:
    """Runs a Robot on a pty or on a TCP listening socket."""

    def __init__(self, robot: Robot, one_connection: bool = False) -> None:
        self.robot = robot
        self.one_connection = one_connection  # 13's other MAY: one TCP connection at a time
        self.conns: dict[int, Conn] = {}
        self.listener: socket.socket | None = None
        self.next_id = 1

    def open_pty(self, link: str | None = None) -> str:
        """Open a pty; return the path of the end the kiosk opens."""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._slave = slave  # kept open so the kiosk closing its end is no hangup
        path = os.ttyname(slave)
        if link:
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(path, link)
            path = link
        self._add(Conn(0, master))
        return path

    def listen_tcp(self, host: str, port: int) -> int:
        """Listen on TCP; return the port."""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(MAX_TCP_CONNECTIONS)
        return self.listener.getsockname()[1]

    def _add(self, conn: Conn) -> None:
        self.conns[conn.cid] = conn
        self.robot.connect(conn.cid)

    def _drop(self, cid: int) -> None:
        conn = self.conns.pop(cid, None)
        self.robot.disconnect(cid)
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()

    def _accept(self) -> None:
        sock, _ = self.listener.accept()
        if len(self.conns) >= MAX_TCP_CONNECTIONS:
            # The spec sets no limit on unauthenticated connections (README A5): make room by
            # closing the oldest one that is not authenticated, so strangers cannot lock out
            # the kiosk.
            strangers = [c for c in self.conns if not self.robot.authenticated(c)]
            if not strangers:
                sock.close()
                return
            self._drop(min(strangers))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._add(Conn(self.next_id, sock.fileno(), sock))
        self.next_id += 1

    def _read(self, conn: Conn, now: float) -> None:
        try:
            data = conn.sock.recv(4096) if conn.sock is not None else os.read(conn.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b"" if conn.sock is not None else None
        if data is None:
            return  # pty with nobody on the other end yet
        if not data and conn.sock is not None:
            self._drop(conn.cid)
            return
        conn.last_rx = now
        for frame in conn.decoder.feed(data):
            if conn.cid in self.conns:
                self.robot.receive(conn.cid, frame, now)

    def _targets(self, dest: int | str) -> list[Conn]:
        if dest == ALL:
            return list(self.conns.values())
        if dest == AUTHED:
            return [c for c in self.conns.values() if self.robot.authenticated(c.cid)]
        conn = self.conns.get(dest)
        return [conn] if conn else []

    def _flush(self) -> None:
        for action in self.robot.drain():
            if isinstance(action, Close):
                self._drop(action.conn)
                continue
            assert isinstance(action, Send)
            for conn in self._targets(action.dest):
                if not conn.write(conn.frame(action.type, action.fields)):
                    self._drop(conn.cid)

    def run(self, stop_after: float | None = None) -> None:
        """Serve until killed (or for stop_after seconds)."""
        start = time.monotonic()
        while stop_after is None or time.monotonic() - start < stop_after:
            fds = [c.fd for c in self.conns.values()]
            if self.listener is not None and not (self.one_connection and self.conns):
                fds.append(self.listener.fileno())
            readable, _, _ = select.select(fds, [], [], TICK_S)
            now = time.monotonic()
            if self.listener is not None and self.listener.fileno() in readable:
                self._accept()
            for conn in list(self.conns.values()):
                if conn.fd in readable and conn.cid in self.conns:
                    self._read(conn, now)
                    self._flush()
            self.robot.tick(time.monotonic())
            self._flush()
            if self.one_connection:
                self._close_silent(time.monotonic())

    def _close_silent(self, now: float) -> None:
        """One connection at a time: close it after 3 s without a frame (13)."""
        for conn in list(self.conns.values()):
            if conn.sock is not None and now - conn.last_rx > SILENT_CLOSE_S:
                self._drop(conn.cid)


def announce(text: str) -> None:
    """One line on stdout for whoever started us (tests read the pty path or port)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

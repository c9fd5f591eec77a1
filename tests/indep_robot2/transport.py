"""Serve the robot on a pty (serial line) or on TCP (keyed, one connection per kiosk)."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
import termios
import time
import tty

from .frames import build
from .robot import Out, Robot
from .session import Session

TICK_S = 0.02
PTY_BACKLOG = 2048  # bytes unread on the pty: nobody is listening, drop the stale frames


class Link:
    """One byte pipe to a kiosk with its session."""

    def __init__(self, fd: int, session: Session, sock: socket.socket | None = None) -> None:
        self.fd, self.session, self.sock = fd, session, sock

    def send(self, fields: list[str]) -> None:
        data = build(self.session.next_seq(), fields)
        try:
            os.write(self.fd, data)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EIO):
                self.session.closed = True

    def close(self) -> None:
        self.session.closed = True
        if self.sock is not None:
            self.sock.close()


def deliver(robot: Robot, links: list[Link], out: list[Out], origin: Link | None) -> None:
    """Send each frame to its link(s): the asking one, all, or trusted ones."""
    for fields, target in out:
        if target == "reply":
            if origin is not None:
                origin.send(fields)
            continue
        for link in links:
            if target == "public" or link.session.trusted:
                link.send(fields)


def _serve(robot: Robot, links: list[Link], extra_fds: list[int], on_fd=None, on_tick=None) -> None:
    last = time.monotonic()
    while True:
        fds = [lk.fd for lk in links if not lk.session.closed] + extra_fds
        ready, _, _ = select.select(fds, [], [], TICK_S)
        now = time.monotonic()
        for fd in ready:
            if fd in extra_fds:
                on_fd(fd)
                continue
            link = next(lk for lk in links if lk.fd == fd)
            _read(robot, links, link, now)
        for link in [lk for lk in links if lk.session.closed]:
            links.remove(link)
            robot.sessions.remove(link.session)
        deliver(robot, links, robot.tick(now, now - last), None)
        if on_tick is not None:
            on_tick()
        last = now


def _read(robot: Robot, links: list[Link], link: Link, now: float) -> None:
    try:
        data = os.read(link.fd, 4096)
    except OSError:
        data = b"" if link.sock is not None else None
    if data is None:  # pty with nobody on the other side
        time.sleep(TICK_S)
        return
    if not data:
        link.close()
        return
    for frame in link.session.reader.feed(data):
        was = link.session.authenticated
        deliver(robot, links, robot.handle(link.session, frame, now), link)
        if link.session.authenticated and not was:
            for other in links:
                if other is not link and other.session.authenticated:
                    other.close()


def serve_pty(robot: Robot, link_path: str | None = None, key: bool = False) -> None:
    """Open a pty, print the path of its serial end, and serve forever."""
    master, slave = os.openpty()
    tty.setraw(slave)
    fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
    path = os.ttyname(slave)
    if link_path:
        if os.path.lexists(link_path):
            os.unlink(link_path)
        os.symlink(path, link_path)
    print(link_path or path, flush=True)
    session = Session(keyed=key)
    robot.sessions.append(session)
    links = [Link(master, session)]

    def flush_if_unread() -> None:
        queued = struct.unpack("i", fcntl.ioctl(slave, termios.TIOCINQ, b"\0\0\0\0"))[0]
        if queued > PTY_BACKLOG:
            termios.tcflush(slave, termios.TCIFLUSH)

    _serve(robot, links, [], on_tick=flush_if_unread)


def serve_tcp(robot: Robot, port: int, host: str = "127.0.0.1") -> None:
    """Listen on TCP; every connection must do the keyed handshake (section 13)."""
    server = socket.create_server((host, port), reuse_port=False)
    print(f"socket://{host}:{port}", flush=True)
    links: list[Link] = []

    def accept(_fd: int) -> None:
        conn, _ = server.accept()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(keyed=True)
        robot.sessions.append(session)
        links.append(Link(conn.fileno(), session, conn))

    _serve(robot, links, [server.fileno()], on_fd=accept)

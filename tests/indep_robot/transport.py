"""Byte transports for the firmware: a pseudo-terminal or TCP, with line-fault injection.

One thread: a `selectors` loop reads the port(s), feeds the decoder, gives frames to the
firmware and ticks it every 20 ms.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import random
import selectors
import socket
import struct
import sys
import termios
import time
import tty
from dataclasses import dataclass
from typing import Any

from .firmware import Firmware
from .wire import Decoder, Frame, make_frame

log = logging.getLogger("indep_robot")
wire_log = logging.getLogger("indep_robot.wire")

OUT_MAX = 16384  # bytes waiting for a slow or absent reader before frames are dropped
PTY_STALE = 1024  # bytes unread on the pty: nobody listens, the line forgets them


@dataclass
class Faults:
    """Line faults, each a probability per frame. direction: 'both', 'out' (robot->kiosk) or 'in'."""

    corrupt: float = 0.0
    drop: float = 0.0
    dup: float = 0.0
    direction: str = "both"

    def apply(self, chunk: bytes, rng: random.Random, outgoing: bool) -> list[bytes]:
        if self.direction != "both" and (self.direction == "out") != outgoing:
            return [chunk]
        if self.drop and rng.random() < self.drop:
            return []
        if self.corrupt and len(chunk) > 4 and rng.random() < self.corrupt:
            data = bytearray(chunk)
            index = rng.randrange(1, len(data) - 2)  # not the '$', not the CR LF
            data[index] ^= 1 << rng.randrange(7)
            chunk = bytes(data)
        if self.dup and rng.random() < self.dup:
            return [chunk, chunk]
        return [chunk]


class Link:
    """One byte stream to a kiosk. Subclasses write the bytes."""

    def __init__(self, name: str, keyed: bool, faults: Faults, rng: random.Random) -> None:
        self.name = name
        self.keyed = keyed
        self.faults = faults
        self.rng = rng
        self.seq = 0
        self.decoder = Decoder()
        self.outbuf = bytearray()
        self.inbuf = bytearray()
        self.closed = False
        self.tx_dropped = 0

    def send(self, msg_type: str, fields: list[str]) -> None:
        frame = make_frame(self.seq, msg_type, fields)
        self.seq = (self.seq + 1) % 1000
        wire_log.debug("%s tx %s", self.name, frame.decode("ascii").rstrip())
        for chunk in self.faults.apply(frame, self.rng, outgoing=True):
            if len(self.outbuf) + len(chunk) > OUT_MAX:
                self.tx_dropped += 1
                continue
            self.outbuf += chunk
        self.flush()

    def reset_seq(self) -> None:
        self.seq = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Received bytes -> well-formed frames (incoming line faults are applied per line)."""
        self.inbuf += data
        frames: list[Frame] = []
        while True:
            end = self.inbuf.find(b"\n")
            if end < 0:
                break
            line, self.inbuf = bytes(self.inbuf[: end + 1]), self.inbuf[end + 1 :]
            for chunk in self.faults.apply(line, self.rng, outgoing=False):
                frames += self.decoder.feed(chunk)
        if len(self.inbuf) > 4096:  # no LF for a long time: let the decoder discard it
            frames += self.decoder.feed(bytes(self.inbuf))
            self.inbuf.clear()
        for frame in frames:
            wire_log.debug("%s rx %s %s", self.name, frame.type, ",".join(frame.fields))
        return frames

    def flush(self) -> None:
        while self.outbuf and not self.closed:
            try:
                written = self._write(bytes(self.outbuf))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.info("%s: write failed: %s", self.name, exc)
                self.close()
                return
            if not written:
                return
            del self.outbuf[:written]

    def _write(self, data: bytes) -> int:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True


class PtyLink(Link):
    """The robot's end of a pseudo-terminal; the kiosk opens the slave path."""

    def __init__(self, faults: Faults, rng: random.Random, keyed: bool) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo of our own frames back to us, no CR/LF translation
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        super().__init__(f"pty {self.path}", keyed, faults, rng)

    def _write(self, data: bytes) -> int:
        return os.write(self.master, data)

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:  # EIO: no slave open (we keep one, so rare)
            if exc.errno == errno.EIO:
                return b""
            raise

    def close(self) -> None:
        """A pty is never closed by the firmware; a failed write only loses what was waiting."""
        self.outbuf.clear()

    def forget_unread(self) -> None:
        """Bytes nobody reads do not pile up: a serial line with no listener loses them."""
        try:
            waiting = struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return
        if waiting > PTY_STALE:
            termios.tcflush(self.slave, termios.TCIFLUSH)

    def shutdown(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class TcpLink(Link):
    def __init__(self, sock: socket.socket, addr: Any, faults: Faults, rng: random.Random, keyed: bool, runner: Runner):
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.runner = runner
        super().__init__(f"tcp {addr[0]}:{addr[1]}", keyed, faults, rng)

    def _write(self, data: bytes) -> int:
        return self.sock.send(data)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self.runner.drop(self)


class Runner:
    """The firmware's main loop."""

    def __init__(self, fw: Firmware, faults: Faults, rng: random.Random, keyed: bool) -> None:
        self.fw = fw
        self.faults = faults
        self.rng = rng
        self.keyed = keyed
        self.sel = selectors.DefaultSelector()
        self.pty: PtyLink | None = None
        self.listener: socket.socket | None = None
        self.stopping = False

    def open_pty(self, symlink: str | None = None) -> str:
        self.pty = PtyLink(self.faults, self.rng, self.keyed)
        self.fw.attach(self.pty)
        self.sel.register(self.pty.master, selectors.EVENT_READ, self._read_pty)
        if symlink:
            if os.path.islink(symlink):
                os.unlink(symlink)
            os.symlink(self.pty.path, symlink)
        return self.pty.path

    def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(4)
        sock.setblocking(False)
        self.listener = sock
        self.sel.register(sock, selectors.EVENT_READ, self._accept)
        return sock.getsockname()[:2]

    def open_console(self) -> None:
        """Lines typed on stdin act on the robot (README 'Console')."""
        self.sel.register(sys.stdin, selectors.EVENT_READ, self._read_console)

    def _read_console(self, _key: Any) -> None:
        line = sys.stdin.readline()
        if not line:
            self.sel.unregister(sys.stdin)
            return
        if line.strip() == "quit":
            self.stopping = True
            return
        self.fw.now = time.monotonic()
        try:
            answer = self.fw.console(line)
        except ValueError as exc:
            answer = f"error: {exc}"
        print(answer, file=sys.stderr, flush=True)

    def _read_pty(self, _key: Any) -> None:
        assert self.pty is not None
        data = self.pty.read()
        self._frames(self.pty, data)

    def _accept(self, _key: Any) -> None:
        assert self.listener is not None
        try:
            sock, addr = self.listener.accept()
        except BlockingIOError:
            return
        link = TcpLink(sock, addr, self.faults, self.rng, self.keyed, self)
        log.info("connection from %s", link.name)
        self.fw.attach(link)
        self.sel.register(sock, selectors.EVENT_READ, lambda _k: self._read_tcp(link))

    def _read_tcp(self, link: TcpLink) -> None:
        try:
            data = link.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            log.info("%s closed", link.name)
            link.close()
            return
        self._frames(link, data)

    def _frames(self, link: Link, data: bytes) -> None:
        for frame in link.feed(data):
            if link.closed:
                return
            self.fw.on_frame(link, frame, time.monotonic())

    def drop(self, link: TcpLink) -> None:
        self.fw.detach(link)
        try:
            self.sel.unregister(link.sock)
        except (KeyError, ValueError):
            pass
        link.sock.close()

    def run(self, until: float | None = None) -> None:
        next_forget = 0.0
        while not self.stopping and (until is None or time.monotonic() < until):
            for key, _mask in self.sel.select(timeout=0.02):
                key.data(key)
            now = time.monotonic()
            self.fw.tick(now)
            for link in list(self.fw.links):
                link.flush()
            if self.pty is not None and now >= next_forget:
                next_forget = now + 0.5
                self.pty.forget_unread()

    def close(self) -> None:
        for link in list(self.fw.links):
            if isinstance(link, TcpLink):
                link.close()
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
        if self.pty is not None:
            self.sel.unregister(self.pty.master)
            self.pty.shutdown()
        self.sel.close()

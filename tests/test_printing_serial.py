"""The printer check on a serial port (`centre.printing.probe`, the printer line of `kiosk doctor`).

A serial port opens whether or not a printer is attached: only a reply to the ESC/POS
real-time status request (DLE EOT n) shows one is there. The port here is a real pty
(`os.openpty`): left silent it is a port with nothing attached; a small responder thread on
its other end answering the status request is a printer.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from contextlib import contextmanager

import pytest

from centre.config import PrinterSection
from centre.printing import probe

DLE_EOT = b"\x10\x04"
PAPER_OK = b"\x12"  # DLE EOT 4 answer: the fixed bits (1 and 4) set, no paper sensor bit


@pytest.fixture
def pty_port():
    """(the slave's path, the master's fd): the path is the printer port the check opens."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield os.ttyname(slave), master
    finally:
        os.close(master)
        os.close(slave)


class Responder(threading.Thread):
    """The printer's end of the pty: answers every status request with `reply`."""

    def __init__(self, master: int, reply: bytes):
        super().__init__(daemon=True)
        self.master, self.reply = master, reply
        self.stop = threading.Event()
        self.requests = 0
        self.received = b""

    def run(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                self.received += os.read(self.master, 64)
            except OSError:  # the port was closed
                return
            while DLE_EOT in self.received:
                _, _, self.received = self.received.partition(DLE_EOT)
                self.requests += 1
                os.write(self.master, self.reply)


def serial(port: str) -> PrinterSection:
    return PrinterSection(kind="serial", serial_port=port, serial_baudrate=19200)


def test_a_serial_port_with_nothing_attached_is_not_ok(pty_port):
    port, master = pty_port
    ok, message = probe(serial(port))
    assert not ok
    assert f"no printer answers on {port}" in message
    assert "switched on" in message and "printer.serial_port" in message  # what to do
    assert os.read(master, 64).startswith(DLE_EOT)  # it did ask


@contextmanager
def answering(master: int, reply: bytes):
    """A device on the pty's other end answering every status request with `reply`."""
    device = Responder(master, reply)
    device.start()
    try:
        yield device
    finally:
        device.stop.set()
        device.join(2)


def test_a_printer_answering_the_status_request_is_ok(pty_port):
    port, master = pty_port
    with answering(master, PAPER_OK) as printer:
        ok, message = probe(serial(port))
    assert ok, message
    assert message == "answers; paper ok"
    assert printer.requests == 1


def test_a_device_answering_garbage_on_the_port_is_not_a_printer(pty_port):
    port, master = pty_port
    with answering(master, b"H"):  # no ESC/POS status byte: another device, or a wrong baud rate
        ok, message = probe(serial(port))
    assert not ok
    assert "not as a receipt printer" in message and "serial_baudrate" in message

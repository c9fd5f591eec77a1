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
import time
import tty
from contextlib import contextmanager

import pytest

from centre.config import PrinterSection
from centre.printing import probe

DLE_EOT = b"\x10\x04"
CUT = b"\x1dV"  # GS V: the paper is cut (the last command of a ticket)
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
        self.data = b""  # all it was sent (a ticket: the status request, the raster image, the cut)

    def run(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the port was closed
                return
            self.data += chunk
            self.received += chunk
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


# -- printing a ticket (centre.printing.print_ticket, the kiosk's ticket screen) -----------------


def _ticket_image():
    from PIL import Image, ImageDraw

    img = Image.new("1", (576, 120), 1)
    ImageDraw.Draw(img).rectangle((10, 10, 300, 100), fill=0)
    return img


def _cfg(tmp_path, port: str):
    from kiosk.testing import kiosk_config

    return kiosk_config(tmp_path, copy_data=False, extra={
        'kind: "dummy"': 'kind: "serial"', 'serial_port: "/dev/ttyS0"': f'serial_port: "{port}"',
        "serial_baudrate: 9600": "serial_baudrate: 19200"})


def test_a_ticket_sent_to_a_silent_serial_port_is_not_counted_as_printed(pty_port, tmp_path):
    """Nothing on the port: the port opens and takes the bytes, but no paper comes out. The
    status request gets no reply, so the job fails (and is recorded) before the image is sent."""
    from centre import printing
    from centre.db import connect

    port, master = pty_port
    conn = connect(tmp_path / "centre.db")
    result = printing.print_ticket(_ticket_image(), _cfg(tmp_path, port), conn=conn, ticket_id=7)
    assert not result.ok and f"no printer answers on {port}" in result.message, result
    sent = os.read(master, 65536)
    assert sent.startswith(DLE_EOT) and b"\x1dv0" not in sent  # asked, and sent no image
    job = printing.last_jobs(conn, 1)[0]
    assert job["ticket_id"] == 7 and not job["ok"] and "no printer answers" in job["message"]
    assert "no printer answers" in printing.last_failure_text(conn)
    conn.close()


def test_a_ticket_on_an_answering_serial_printer_is_printed(pty_port, tmp_path):
    from centre import printing

    port, master = pty_port
    with answering(master, PAPER_OK) as printer:
        result = printing.print_ticket(_ticket_image(), _cfg(tmp_path, port))
        deadline = time.monotonic() + 3
        while CUT not in printer.data and time.monotonic() < deadline:  # the last bytes still on the line
            time.sleep(0.02)
    assert result.ok, result
    assert printer.requests >= 1 and b"\x1dv0" in printer.data and CUT in printer.data


def test_the_kiosk_says_not_printed_and_keeps_the_ticket_when_the_serial_port_is_silent(pty_port, tmp_path):
    """The kiosk's ticket screen: the number and its QR stay, print_status 'failed' (the screen's
    'no ticket was printed' message), the ticket is in the queue."""
    from datetime import UTC, datetime

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.controller import Controller, Screen

    port, _master = pty_port
    cfg = _cfg(tmp_path, port)
    backend = Backend(cfg, queue_clock=FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC)))
    backend.prepare()
    c = Controller(cfg, backend, synchronous=True)
    c.start(warm_up=False)
    try:
        c.open_ticket()
        c.choose_service("A")
        if c.screen == Screen.PRIORITY:
            c.choose_priority(None)
        assert c.screen == Screen.TICKET and c.visit.ticket["number"] == "A001"
        assert c.visit.print_status == "failed"
        assert c.visit.ticket.get("qr") or c.visit.ticket.get("status_url")
        assert [t.code for t in backend.queue.list()] == ["A001"]
    finally:
        c.close()


def test_a_serial_printer_that_stops_reading_fails_the_job_instead_of_hanging(pty_port, tmp_path, monkeypatch):
    """It answers the status request, then takes no more bytes (the pty's buffer fills): the write
    times out (pyserial waited for ever; the kiosk's print worker with it)."""
    from PIL import Image

    from centre import printing

    port, master = pty_port
    monkeypatch.setattr(printing, "SERIAL_WRITE_MIN_S", 0.5)
    monkeypatch.setattr(printing, "SERIAL_WRITE_SLACK", 0.0)

    def answer_once():
        select.select([master], [], [], 5)
        os.read(master, 64)
        os.write(master, PAPER_OK)  # ... and reads nothing more

    device = threading.Thread(target=answer_once, daemon=True)
    device.start()
    started = time.monotonic()
    result = printing.print_ticket(Image.new("1", (576, 2000), 0), _cfg(tmp_path, port))
    device.join(2)
    assert not result.ok and "printer does not take the data" in result.message, result
    assert time.monotonic() - started < 5

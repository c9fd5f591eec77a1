"""Ticket printing (issue 4): raster image + cut reach the printer; a missing, offline or
paperless printer never prevents a ticket (the caller learns, the log and `kiosk doctor` show it).

Printers used: python-escpos's Dummy, a file, a fake network printer on a local socket
that answers the DLE EOT 4 paper-status query, and addresses where nothing listens.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import zxingcpp
from escpos.printer import Dummy
from PIL import Image

from centre.clock import FixedClock
from centre.config import PrinterSection
from centre.db import connect, open_db
from centre.printing import last_jobs, print_ticket, probe
from centre.queue import Queue
from centre.tickets import render_ticket, ticket_content

RASTER = b"\x1dv0"  # GS v 0: print raster bit image
CUT = b"\x1dV"      # GS V: cut paper


@pytest.fixture
def ticket_image(tmp_config):
    q = Queue(connect(tmp_config.database_path), tmp_config, FixedClock(datetime(2026, 11, 25, 2, 5, tzinfo=UTC)))
    t = q.issue("A")
    return render_ticket(ticket_content(q, t)), f"{tmp_config.centre.base_url}/t/{t.token}"


def with_printer(cfg, **kw):
    return cfg.model_copy(update={"printer": PrinterSection(**kw)})


def raster_to_image(data: bytes) -> Image.Image:
    """Rebuild the picture from the GS v 0 blocks in an ESC/POS byte stream."""
    rows: list[bytes] = []
    width = None
    i = data.find(RASTER)
    assert i >= 0, "no raster image command"
    while i >= 0:
        x = data[i + 4] + 256 * data[i + 5]
        y = data[i + 6] + 256 * data[i + 7]
        body = data[i + 8:i + 8 + x * y]
        assert len(body) == x * y
        width = x * 8
        rows += [body[r * x:(r + 1) * x] for r in range(y)]
        i = data.find(RASTER, i + 8 + x * y)
    img = Image.new("L", (width, len(rows)), 255)
    px = img.load()
    for yy, row in enumerate(rows):
        for xx in range(width):
            if row[xx // 8] & (0x80 >> (xx % 8)):
                px[xx, yy] = 0
    return img


def qr_text(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(img)]


def test_dummy_printer_gets_raster_image_then_cut(tmp_config, ticket_image):
    image, url = ticket_image
    p = Dummy()
    result = print_ticket(image, tmp_config, printer=p)
    assert result.ok and result.message == ""
    out = p.output
    assert out.find(RASTER) < out.rfind(CUT)
    assert out[out.find(RASTER) + 4:out.find(RASTER) + 6] == bytes([576 // 8, 0])  # 72 bytes a row
    back = raster_to_image(out)
    assert back.size[0] == 576 and abs(back.size[1] - image.height) < 8
    assert qr_text(back) == [url]  # the printed bits are the ticket, QR and all


def test_file_printer_writes_the_job(tmp_config, ticket_image, tmp_path):
    image, url = ticket_image
    dev = tmp_path / "lp0"
    dev.write_bytes(b"")
    result = print_ticket(image, with_printer(tmp_config, kind="file", path=str(dev)))
    assert result.ok, result.message
    data = dev.read_bytes()
    assert RASTER in data and CUT in data and qr_text(raster_to_image(data)) == [url]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeNetworkPrinter:
    """A TCP 'printer' that answers the paper status query with a chosen byte (or never)."""

    def __init__(self, paper_byte: int | None):
        self.paper_byte = paper_byte
        self.received = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.received += chunk
                if b"\x10\x04\x04" in chunk and self.paper_byte is not None:
                    conn.sendall(bytes([self.paper_byte]))

    def close(self):
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.mark.parametrize("paper_byte", [0x12, None], ids=["paper-ok", "no-status-answer"])
def test_network_printer_prints(tmp_config, ticket_image, paper_byte):
    image, url = ticket_image
    fake = FakeNetworkPrinter(paper_byte)
    result = print_ticket(image, with_printer(tmp_config, kind="network", host="127.0.0.1", port=fake.port))
    fake.close()
    assert result.ok, result.message
    assert qr_text(raster_to_image(fake.received)) == [url] and CUT in fake.received


def test_doctor_tells_a_printer_from_something_else_answering(tmp_config):
    """A network address that answers the paper-status query with a byte no ESC/POS printer
    sends ('H' of "HTTP/1.1 400") is not reported as "reachable; paper ok"."""
    from centre.printing import probe

    for byte, ok, words in ((0x48, False, "not as a receipt printer"), (0x12, True, "paper ok"),
                            (0x1E, True, "running low")):
        fake = FakeNetworkPrinter(byte)
        try:
            result = probe(with_printer(tmp_config, kind="network", host="127.0.0.1", port=fake.port).printer)
        finally:
            fake.close()
        assert result[0] is ok and words in result[1], (hex(byte), result)


def test_out_of_paper_is_reported_and_nothing_printed(tmp_config, ticket_image, tmp_path, caplog):
    image, _ = ticket_image
    fake = FakeNetworkPrinter(0x72)  # DLE EOT 4 answer: paper end sensor
    cfg = with_printer(tmp_config, kind="network", host="127.0.0.1", port=fake.port)
    db = open_db(tmp_path / "p.db")
    with caplog.at_level(logging.ERROR, logger="centre.printing"):
        result = print_ticket(image, cfg, conn=db, ticket_id=7)
    fake.close()
    assert not result.ok and "out of paper" in result.message
    assert RASTER not in fake.received
    assert "NOT printed" in caplog.text and "out of paper" in caplog.text
    job = last_jobs(db)[0]
    assert (job["ok"], job["ticket_id"]) == (False, 7) and "out of paper" in job["message"]


@pytest.mark.parametrize(
    "kw,words",
    [
        ({"kind": "network", "host": "127.0.0.1"}, "printer"),
        ({"kind": "file", "path": "{missing}/lp0"}, "not found"),
        ({"kind": "serial", "serial_port": "/dev/ttyNOPE"}, "/dev/ttyNOPE"),
        ({"kind": "usb", "usb_vendor_id": 0x1234, "usb_product_id": 0x5678}, ""),
        ({"kind": "none"}, "no printer is configured"),
    ],
    ids=["network-refused", "file-missing", "serial-missing", "usb-missing", "none"],
)
def test_missing_printer_never_raises(tmp_config, ticket_image, kw, words, tmp_path):
    if kw.get("kind") == "network":
        kw = {**kw, "port": free_port()}  # nothing listens there
    if kw.get("kind") == "file":  # a folder that surely is not there (a fixed path once was, on a shared machine)
        kw = {**kw, "path": kw["path"].format(missing=tmp_path / "gone")}
    result = print_ticket(ticket_image[0], with_printer(tmp_config, **kw))
    assert not result.ok and words in result.message and result.message
    assert result.seconds < 5


def test_printer_that_fails_mid_job_never_raises(tmp_config, ticket_image):
    class Vanishing(Dummy):
        def image(self, *a, **kw):
            raise OSError(19, "No such device")

    result = print_ticket(ticket_image[0], tmp_config, printer=Vanishing())
    assert not result.ok and "No such device" in result.message


def test_doctor_shows_printer_state_and_last_failure(tmp_config, ticket_image, tmp_path):
    from kiosk.commands.ticket import doctor

    db = open_db(tmp_config.database_path)
    cfg = with_printer(tmp_config, kind="file", path=str(tmp_path / "gone" / "lp0"))
    print_ticket(ticket_image[0], cfg, conn=db, ticket_id=1)
    checks = {c.part: c for c in doctor(SimpleNamespace(config=cfg, db=db))}
    assert not checks["printer"].ok
    assert "does not exist" in checks["printer"].message and "last print failed" in checks["printer"].message
    assert checks["queue"].ok and checks["ticket font"].ok

    dev = tmp_path / "lp0"
    dev.write_bytes(b"")
    ok_cfg = with_printer(tmp_config, kind="file", path=str(dev))
    assert print_ticket(ticket_image[0], ok_cfg, conn=db).ok
    checks = {c.part: c for c in doctor(SimpleNamespace(config=ok_cfg, db=db))}
    assert checks["printer"].ok and "last print failed" not in checks["printer"].message


def test_probe_network_printer(tmp_config):
    fake = FakeNetworkPrinter(0x72)
    ok, msg = probe(with_printer(tmp_config, kind="network", host="127.0.0.1", port=fake.port).printer)
    fake.close()
    assert not ok and "out of paper" in msg
    ok, msg = probe(with_printer(tmp_config, kind="network", host="127.0.0.1", port=free_port()).printer)
    assert not ok and "check the cable" in msg

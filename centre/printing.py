"""Printing tickets on an ESC/POS thermal printer with python-escpos.

The connection comes from `cfg.printer` (`kind`: usb, serial, network, file, dummy or
none). The ticket image is sent as a raster image (GS v 0), then the paper is fed and cut.

A printer that is missing, offline or out of paper never prevents a ticket: `print_ticket`
never raises for printer trouble; it returns a `PrintResult` with `ok=False` and a plain
message (the kiosk then shows the QR code on screen), logs it, and, given a database
connection, records it in `print_jobs` so that `kiosk doctor` shows the last failure.

    result = print_ticket(image, cfg, conn=conn, ticket_id=t.id)
    if not result.ok: show_qr_on_screen(result.message)

Tests inject `escpos.printer.Dummy()` through `printer=`; `make_printer(cfg.printer)` builds
the real one.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from centre.db import migrate

log = logging.getLogger(__name__)

NETWORK_TIMEOUT_S = 3.0
STATUS_TIMEOUT_S = 0.5

MIGRATIONS = [
    """
    CREATE TABLE print_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,                 -- UTC epoch seconds
        ticket_id INTEGER,                -- tickets.id, NULL for test prints
        printer TEXT NOT NULL,            -- e.g. 'network 192.168.1.100:9100'
        ok INTEGER NOT NULL,              -- 1 printed, 0 failed
        message TEXT NOT NULL DEFAULT '',
        seconds REAL NOT NULL DEFAULT 0
    );
    """,
]


class PrinterError(Exception):
    """The printer could not be reached or refused the job (missing, offline, out of paper)."""


@dataclass(frozen=True)
class PrintResult:
    """What happened to one print job."""

    ok: bool
    printer: str          # which printer, in words
    message: str          # '' when printed; otherwise what went wrong, in plain words
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def describe(pcfg) -> str:
    """The configured printer in words, e.g. 'usb 0416:5011'."""
    kind = pcfg.kind
    if kind == "usb":
        return f"usb {pcfg.usb_vendor_id:04x}:{pcfg.usb_product_id:04x}"
    if kind == "serial":
        return f"serial {pcfg.serial_port} @ {pcfg.serial_baudrate}"
    if kind == "network":
        return f"network {pcfg.host}:{pcfg.port}"
    if kind == "file":
        return f"file {pcfg.path}"
    return kind


def make_printer(pcfg):
    """A python-escpos printer object for cfg.printer (not yet opened); None for kind 'none'."""
    from escpos import printer as escpos_printer

    kind = pcfg.kind
    if kind == "none":
        return None
    if kind == "dummy":
        p = escpos_printer.Dummy()
    elif kind == "usb":
        p = escpos_printer.Usb(pcfg.usb_vendor_id, pcfg.usb_product_id, timeout=int(NETWORK_TIMEOUT_S * 1000))
    elif kind == "serial":
        p = escpos_printer.Serial(devfile=pcfg.serial_port, baudrate=pcfg.serial_baudrate, timeout=STATUS_TIMEOUT_S)
    elif kind == "network":
        p = escpos_printer.Network(host=pcfg.host, port=pcfg.port, timeout=NETWORK_TIMEOUT_S)
    elif kind == "file":
        p = escpos_printer.File(devfile=pcfg.path)
    else:  # pragma: no cover - config validation allows only the kinds above
        raise PrinterError(f"unknown printer kind {kind!r}")
    _set_width(p, pcfg.paper_width_px)
    return p


def _set_width(p, width_px: int) -> None:
    """Tell python-escpos the paper width (its default profile leaves it unknown and warns)."""
    try:
        p.profile.profile_data["media"]["width"]["pixels"] = width_px
    except (AttributeError, KeyError, TypeError):
        pass


def _open(p) -> None:
    if hasattr(p, "open") and type(p).__name__ != "Dummy":
        p.open()


#: every ESC/POS real-time status byte (DLE EOT n) has bits 1 and 4 set and bits 0 and 7 clear;
#: a byte without them is not a printer's answer (an HTTP server or another device at that address)
STATUS_FIXED_MASK = 0x93
STATUS_FIXED_BITS = 0x12


def paper_state(p) -> str:
    """'ok', 'low', 'out', 'unknown' (the printer did not answer the DLE EOT 4 status query) or
    'foreign' (something answered, but not with a printer's status byte)."""
    if type(p).__name__ in ("Dummy", "File"):
        return "unknown"
    restore = None
    try:
        dev = p.device
        if hasattr(dev, "settimeout"):  # network: do not wait the whole print timeout
            restore = dev.gettimeout()
            dev.settimeout(STATUS_TIMEOUT_S)
        raw = p.query_status(b"\x10\x04\x04")
    except Exception:  # noqa: BLE001 - many printers do not answer status queries at all
        return "unknown"
    finally:
        if restore is not None:
            try:
                p.device.settimeout(restore)
            except Exception:  # noqa: BLE001
                pass
    if not raw:
        return "unknown"
    status = raw[0]
    if status & STATUS_FIXED_MASK != STATUS_FIXED_BITS:
        return "foreign"
    # DLE EOT 4: bits 5-6 set = paper end, bits 2-3 set = paper near end.
    if status & 0x60 == 0x60:
        return "out"
    if status & 0x0C == 0x0C:
        return "low"
    return "ok"


def print_image(image: Image.Image, pcfg, *, printer=None) -> PrintResult:
    """Send one image as raster and cut. Never raises for printer trouble."""
    name = describe(pcfg) if printer is None else type(printer).__name__.lower()
    started = time.monotonic()
    if printer is None and pcfg.kind == "none":
        return PrintResult(False, name, "no printer is configured (printer.kind: none)")
    try:
        p = printer if printer is not None else make_printer(pcfg)
        if printer is not None:
            _set_width(p, pcfg.paper_width_px)
        _open(p)
        try:
            _check_before_printing(p, paper_state(p))
            img = image if image.width <= pcfg.paper_width_px else _fit(image, pcfg.paper_width_px)
            _bound_serial_write(p, img)
            p.image(img, impl="bitImageRaster", center=False)
            p.cut()
        finally:
            if type(p).__name__ != "Dummy":
                try:
                    p.close()
                except Exception:  # noqa: BLE001 - closing a dead device must not mask the real error
                    pass
    except Exception as exc:  # noqa: BLE001 - any printer failure must leave the ticket valid
        return PrintResult(False, name, _plain(exc), time.monotonic() - started)
    return PrintResult(True, name, "", time.monotonic() - started)


def _is_serial(p) -> bool:
    return type(p).__name__ == "Serial"


def _check_before_printing(p, paper: str) -> None:
    """Raise PrinterError when the status reply (`paper_state`) says no paper will come out.

    A serial port opens and takes bytes whether or not a printer is attached (the kernel buffers
    them), so on a serial port only a reply to the status request proves a printer: silence, or
    a reply that is not a printer's status byte, fails the job (it was counted as printed) — the
    same rule as `probe` (`kiosk printer check`). A network printer accepted the connection, so
    silence there means only that it does not report its paper."""
    if paper == "out":
        raise PrinterError("the printer is out of paper")
    if _is_serial(p) and paper in ("unknown", "foreign"):
        port = getattr(p, "devfile", "") or "the serial port"
        if paper == "unknown":
            raise PrinterError(f"no printer answers on {port}: nothing replied to the printer status "
                               f"request (DLE EOT) within {STATUS_TIMEOUT_S:g} s — is the printer switched on?")
        raise PrinterError(f"something answers on {port}, but not as a receipt printer — check "
                           f"printer.serial_port and printer.serial_baudrate")


#: a serial write may take this long, plus SERIAL_WRITE_SLACK times the time the line needs to
#: carry the bytes at the configured baud rate, before the job fails (pyserial waited for ever
#: on a port whose other end stopped reading)
SERIAL_WRITE_MIN_S = 5.0
SERIAL_WRITE_SLACK = 3.0


def _bound_serial_write(p, img: Image.Image) -> None:
    """Give a serial printer's writes a timeout sized to the image (raster: width/8 bytes a line)."""
    dev = getattr(p, "device", None) if _is_serial(p) else None
    if dev is None or not hasattr(dev, "write_timeout"):
        return
    size = (img.width + 7) // 8 * img.height + 64
    baud = getattr(p, "baudrate", 9600) or 9600
    dev.write_timeout = SERIAL_WRITE_MIN_S + SERIAL_WRITE_SLACK * size * 10 / baud


def _fit(image: Image.Image, width: int) -> Image.Image:
    height = round(image.height * width / image.width)
    return image.convert("L").resize((width, height)).point(lambda v: 0 if v < 160 else 255, mode="1")


def _plain(exc: Exception) -> str:
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    name = type(exc).__name__
    if name in ("USBNotFoundError", "DeviceNotFoundError") or isinstance(exc, FileNotFoundError):
        return f"printer not found: {text}"
    if name == "SerialTimeoutException":  # the port stopped taking bytes (a printer that does not read)
        return f"printer does not take the data: {text}"
    if isinstance(exc, TimeoutError | ConnectionError):
        return f"printer does not answer: {text}"
    return text if isinstance(exc, PrinterError) else f"{name}: {text}"


def print_ticket(image: Image.Image, cfg, *, printer=None, conn=None, ticket_id: int | None = None) -> PrintResult:
    """Print a rendered ticket on the configured printer; log and record the outcome.

    Returns a PrintResult; `ok=False` means the citizen did not get paper (show the QR).
    """
    result = print_image(image, cfg.printer, printer=printer)
    if result.ok:
        log.info("ticket %s printed on %s in %.2fs", ticket_id, result.printer, result.seconds)
    else:
        log.error("ticket %s NOT printed on %s: %s", ticket_id, result.printer, result.message)
    if conn is not None:
        record(conn, result, ticket_id=ticket_id)
    return result


def ensure_schema(conn) -> None:
    """Create the print_jobs table."""
    migrate(getattr(conn, "conn", conn), "printing", MIGRATIONS)


def record(conn, result: PrintResult, *, ticket_id: int | None = None) -> None:
    """Store a print outcome (errors storing it are logged, never raised)."""
    c = getattr(conn, "conn", conn)
    try:
        ensure_schema(c)
        c.execute(
            "INSERT INTO print_jobs(at, ticket_id, printer, ok, message, seconds) VALUES (?,?,?,?,?,?)",
            (time.time(), ticket_id, result.printer, int(result.ok), result.message, result.seconds),
        )
    except sqlite3.Error as exc:
        log.error("cannot record print result: %s", exc)


def last_jobs(conn, limit: int = 20) -> list[dict]:
    """Latest print outcomes, newest first."""
    c = getattr(conn, "conn", conn)
    ensure_schema(c)
    rows = c.execute("SELECT * FROM print_jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [{"id": r["id"], "at": datetime.fromtimestamp(r["at"], UTC).isoformat(), "ticket_id": r["ticket_id"],
             "printer": r["printer"], "ok": bool(r["ok"]), "message": r["message"], "seconds": r["seconds"]}
            for r in rows]


def probe(pcfg) -> tuple[bool, str]:
    """Can the configured printer be reached now? (ok, message) without printing anything."""
    kind = pcfg.kind
    if kind == "none":
        return True, "no printer configured: tickets are shown on screen only"
    if kind == "dummy":
        return True, "dummy printer (demo/tests): nothing is printed on paper"
    if kind == "file":
        path = Path(pcfg.path)
        if not path.exists():
            return False, f"{path} does not exist — is the printer plugged in and switched on?"
        import os

        if not os.access(path, os.W_OK):
            return False, f"{path} is not writable by this user — add it to the 'lp' group"
        return True, f"{path} is writable"
    try:
        p = make_printer(pcfg)
        _open(p)
        try:
            paper = paper_state(p)
        finally:
            try:
                p.close()
            except Exception:  # noqa: BLE001
                pass
    except Exception as exc:  # noqa: BLE001 - report any failure as text
        return False, f"{_plain(exc)} — check the cable/network and printer settings in config.yaml"
    return _probe_answer(pcfg, paper)


def _probe_answer(pcfg, paper: str) -> tuple[bool, str]:
    """`probe`'s verdict from the reply to the status request (`paper_state`) of a printer
    whose connection opened.

    A serial port opens whether or not anything is attached to it (and a USB-serial adapter
    with no printer behind it opens too), so on a serial port only a reply proves a printer:
    no reply to the real-time status request (DLE EOT 4) is "no printer answers", not OK.
    A network printer accepted the connection, so silence there means only that it does not
    report its paper."""
    serial = pcfg.kind == "serial"
    if paper == "out":
        return False, "the printer is out of paper — load a new roll"
    if paper == "foreign":
        if serial:
            where = "on this port"
            fix = "printer.serial_port and printer.serial_baudrate"
        else:
            where, fix = "at this address", "printer.host and printer.port"
        return False, (
            f"something answers {where}, but not as a receipt printer (its reply to the paper-status "
            f"query is not ESC/POS) — check {fix} in config.yaml"
        )
    if paper == "unknown" and serial:
        return False, (
            f"no printer answers on {pcfg.serial_port}: the port opens, but nothing replied to the "
            f"printer status request (DLE EOT) within {STATUS_TIMEOUT_S:g} s — is the printer switched "
            f"on and its cable in this port? Check printer.serial_port and printer.serial_baudrate "
            f"({pcfg.serial_baudrate}) in config.yaml"
        )
    extra = {"low": "; paper is running low", "unknown": "; paper state not reported"}
    return True, ("answers" if serial else "reachable") + extra.get(paper, "; paper ok")


def last_failure_text(conn) -> str | None:
    """'last print failed at ...: message' when the latest job failed, else None."""
    jobs = last_jobs(conn, 1)
    if jobs and not jobs[0]["ok"]:
        return f"last print failed at {jobs[0]['at']}: {jobs[0]['message']}"
    return None

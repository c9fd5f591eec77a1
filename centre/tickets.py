"""Ticket images: a PNG for an 80 mm thermal printer (576 px at 203 dpi) with a QR code.

The ticket is drawn as an image, not printer text, so Vietnamese diacritics print on any
ESC/POS printer. It shows the centre's name, the number very large, the service, the
counter(s), the date and time, the people ahead, the estimated wait and a QR code of the
ticket's public status page (`cfg.centre.base_url + "/t/<token>"`). Labels come from
`LABELS` (vi and en); the font is the bundled DejaVu Sans (assets/fonts, with its licence),
which covers every Vietnamese letter and tone mark.

    content = ticket_content(queue, ticket, lang="vi")   # the facts, from the queue
    image = render_ticket(content)                        # PIL image, mode "1", 576 px wide
    png = render_png(content)                             # the same as PNG bytes
"""

from __future__ import annotations

import io
import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from centre.config import PROJECT_ROOT
from centre.queue_api import Forecast

FONT_DIR = PROJECT_ROOT / "assets" / "fonts"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FONT_LICENCE = FONT_DIR / "LICENSE-DejaVu.txt"
PAPER_WIDTH_PX = 576

#: Every label printed on a ticket, per language.
LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "number": "SỐ THỨ TỰ CỦA BẠN",
        "service": "Dịch vụ",
        "procedure": "Thủ tục",
        "counters": "Quầy phục vụ",
        "counter_called": "Mời đến",
        "priority": "ƯU TIÊN",
        "ahead": "Số người chờ trước bạn",
        "wait": "Thời gian chờ dự kiến",
        "wait_value": "khoảng {n} phút",
        "wait_soon": "sắp đến lượt",
        "issued": "Thời gian lấy số",
        "scan": "Quét mã QR để theo dõi lượt của bạn trên điện thoại",
        "footer": "Vui lòng chờ đến khi số của bạn được gọi.\nXin cảm ơn!",
    },
    "en": {
        "number": "YOUR NUMBER",
        "service": "Service",
        "procedure": "Procedure",
        "counters": "Counter(s)",
        "counter_called": "Please go to",
        "priority": "PRIORITY",
        "ahead": "People ahead of you",
        "wait": "Estimated wait",
        "wait_value": "about {n} min",
        "wait_soon": "almost your turn",
        "issued": "Issued at",
        "scan": "Scan the QR code to follow your turn on your phone",
        "footer": "Please wait until your number is called.\nThank you!",
    },
}


def label(key: str, lang: str = "vi") -> str:
    """A ticket label in a language (Vietnamese when the language is unknown)."""
    return LABELS.get(lang, LABELS["vi"])[key]


def vietnamese_letters() -> str:
    """Every Vietnamese letter, lower and upper case, with every tone mark (NFC)."""
    base = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    tones = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
    vowels = set("aăâeêioôơuưy")
    out = []
    for ch in base:
        for tone in tones if ch in vowels else [""]:
            letter = unicodedata.normalize("NFC", ch + tone)
            out.append(letter)
            out.append(letter.upper())
    return "".join(dict.fromkeys(out))


@lru_cache(maxsize=64)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The bundled DejaVu Sans at a pixel size."""
    return ImageFont.truetype(str(FONT_BOLD if bold else FONT_REGULAR), size)


@dataclass(frozen=True)
class TicketContent:
    """Everything printed on one ticket, already in the ticket's language."""

    centre_name: str
    code: str                   # 'A012'
    service_name: str
    counters: tuple[str, ...]   # counter names that serve it (or the one that called it)
    called: bool                # True when counters holds the calling counter
    issued_local: datetime      # issue time in the centre's time zone
    ahead: int
    wait_min: float
    url: str                    # status page, encoded in the QR code
    lang: str = "vi"
    priority_name: str | None = None
    procedure_name: str | None = None
    forecast: Forecast | None = None   # the estimate as the queue rounded it (wait_text)


def ticket_content(queue, ticket, *, lang: str | None = None, procedure_name: str | None = None) -> TicketContent:
    """Collect a ticket's printed facts from a `centre.queue.Queue` (language: the ticket's own)."""
    lang = lang or ticket.lang
    cfg = queue.cfg
    status = queue.status(ticket)
    svc = queue.service(ticket.service)
    prio = None
    if ticket.priority:
        groups = {g["key"]: g for g in queue.priority_groups()}
        g = groups.get(ticket.priority)
        prio = (g["name_en"] if lang == "en" else g["name_vi"]) if g else ticket.priority
    return TicketContent(
        centre_name=cfg.centre.name.get(lang),
        code=ticket.code,
        service_name=svc.name(lang),
        counters=tuple(c.name(lang) for c in status.counters),
        called=status.ticket.state in ("called", "serving"),
        issued_local=queue.local(ticket.issued_at),
        ahead=status.ahead,
        wait_min=status.wait_min,
        url=cfg.centre.base_url + ticket.status_path,
        lang=lang,
        priority_name=prio,
        procedure_name=procedure_name,
        forecast=getattr(status, "forecast", None),
    )


def qr_image(url: str, target_px: int = 260) -> Image.Image:
    """A QR code of `url` (error correction M), whole-pixel modules, about target_px wide."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=1)
    qr.add_data(url)
    qr.make(fit=True)
    modules = qr.modules_count + 2 * qr.border
    qr.box_size = max(3, target_px // modules)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("L")


#: characters of one text printed at most (a procedure's name is under 400)
MAX_PRINTED_TEXT = 1000


def _wrap(text: str, f: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break text into lines no wider than `width` pixels (at spaces; long words are cut)."""
    lines: list[str] = []
    if len(text) > MAX_PRINTED_TEXT:  # a ticket is ~3000 px long: the rest could never be printed
        text = text[:MAX_PRINTED_TEXT - 1] + "…"
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}".strip()
            if f.getlength(trial) <= width:
                line = trial
                continue
            if line:
                lines.append(line)
            while f.getlength(word[:width + 1]) > width:  # no glyph is under 1 px: more never fits
                cut = _fit(word, f, width)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _fit(word: str, f: ImageFont.FreeTypeFont, width: int) -> int:
    """How many leading characters of `word` fit in `width` pixels (at least 1), by bisection: a
    name of 3,000 characters without a space took a minute cut one character at a time."""
    lo, hi = 1, min(len(word), width + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if f.getlength(word[:mid]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Canvas:
    """A tall white page drawn top-down; cropped to its content at the end."""

    def __init__(self, width: int, margin: int = 16):
        self.width = width
        self.margin = margin
        self.image = Image.new("L", (width, 3000), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.y = margin

    @property
    def inner(self) -> int:
        return self.width - 2 * self.margin

    def text(self, text: str, size: int, *, bold: bool = False, align: str = "center", gap: int = 6,
             invert: bool = False) -> None:
        f = font(size, bold)
        ascent, descent = f.getmetrics()
        line_h = ascent + descent
        for line in _wrap(text, f, self.inner - (16 if invert else 0)):
            w = f.getlength(line)
            x = self.margin if align == "left" else (self.width - w) / 2
            if invert:
                self.draw.rectangle((self.margin, self.y - 2, self.width - self.margin, self.y + line_h + 2), fill=0)
            self.draw.text((x, self.y), line, font=f, fill=255 if invert else 0)
            self.y += line_h + (4 if invert else 2)
        self.y += gap

    def pair(self, name: str, value: str, size: int = 26) -> None:
        """'name:' on the left and the value right-aligned, or below when they do not fit."""
        f, fb = font(size), font(size, True)
        ascent, descent = f.getmetrics()
        if f.getlength(name + ":") + fb.getlength(value) + 20 <= self.inner:
            self.draw.text((self.margin, self.y), name + ":", font=f, fill=0)
            self.draw.text((self.width - self.margin - fb.getlength(value), self.y), value, font=fb, fill=0)
            self.y += ascent + descent + 8
        else:
            self.text(name + ":", size, align="left", gap=0)
            self.text(value, size, bold=True, align="left", gap=6)

    def rule(self, thick: int = 2, gap: int = 10) -> None:
        self.y += gap // 2
        self.draw.rectangle((self.margin, self.y, self.width - self.margin, self.y + thick - 1), fill=0)
        self.y += thick + gap

    def big(self, text: str, max_size: int = 200) -> None:
        size = max_size
        while size > 40 and font(size, True).getlength(text) > self.inner:
            size -= 4
        f = font(size, True)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=f)
        x = (self.width - (right - left)) / 2 - left
        self.draw.text((x, self.y - top), text, font=f, fill=0)
        self.y += bottom - top + 16

    def paste(self, img: Image.Image) -> None:
        self.image.paste(img, ((self.width - img.width) // 2, self.y))
        self.y += img.height + 4

    def result(self) -> Image.Image:
        page = self.image.crop((0, 0, self.width, self.y + self.margin))
        return page.point(lambda v: 0 if v < 160 else 255, mode="1")


def wait_text(forecast: Forecast, lang: str = "vi") -> str:
    """THE way to say a wait (kiosk screen, printed ticket, status page, robot queue):
    'khoảng 15 phút' / 'about 15 min' from `forecast.minutes`, or 'sắp đến lượt' at 0."""
    minutes = int(forecast.minutes)
    if minutes < 1:
        return label("wait_soon", lang)
    return label("wait_value", lang).format(n=minutes)


def format_wait(wait_min: float, lang: str = "vi") -> str:
    """wait_text of a wait in minutes (a float), rounded as a Forecast rounds it."""
    if not math.isfinite(wait_min):
        wait_min = 0.0
    return wait_text(Forecast.from_estimate("", 0, 0, wait_min), lang)


def render_ticket(content: TicketContent, width: int = PAPER_WIDTH_PX) -> Image.Image:
    """Draw a ticket; returns a 1-bit PIL image `width` pixels wide (for ESC/POS raster)."""
    lang = content.lang
    c = _Canvas(width)
    c.text(content.centre_name, 24, bold=True, gap=2)
    c.rule()
    c.text(label("number", lang), 26, bold=True, gap=0)
    c.big(content.code)
    if content.priority_name:
        c.text(f"{label('priority', lang)}: {content.priority_name}", 26, bold=True, invert=True, gap=10)
    c.text(f"{label('service', lang)}: {content.service_name}", 28, bold=True, gap=4)
    if content.procedure_name:
        c.text(f"{label('procedure', lang)}: {content.procedure_name}", 22, gap=4)
    if content.counters:
        name = label("counter_called" if content.called else "counters", lang)
        c.text(f"{name}: {', '.join(content.counters)}", 26, gap=4)
    c.rule(thick=1)
    c.pair(label("ahead", lang), str(content.ahead))
    fc = content.forecast or Forecast.from_estimate("", content.ahead, 0, content.wait_min)
    c.pair(label("wait", lang), wait_text(fc, lang))
    c.pair(label("issued", lang), content.issued_local.strftime("%H:%M %d/%m/%Y"))
    c.rule(thick=1)
    c.paste(qr_image(content.url))
    c.text(label("scan", lang), 20, gap=8)
    c.text(label("footer", lang), 20, bold=True, gap=0)
    return c.result()


def render_png(content: TicketContent, width: int = PAPER_WIDTH_PX) -> bytes:
    """The ticket as PNG bytes."""
    buf = io.BytesIO()
    render_ticket(content, width).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def save_png(content: TicketContent, path: str | Path, width: int = PAPER_WIDTH_PX) -> Path:
    """Render a ticket into a PNG file and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_png(content, width))
    return path

"""Ticket images (issue 4): 576 px PNG, QR decodes to the status URL, Vietnamese glyphs present.

Rendered tickets are saved to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime

import pytest
import zxingcpp
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageDraw

from centre.clock import FixedClock
from centre.db import connect
from centre.queue import Queue
from centre.tickets import (
    FONT_BOLD,
    FONT_LICENCE,
    FONT_REGULAR,
    LABELS,
    PAPER_WIDTH_PX,
    TicketContent,
    font,
    format_wait,
    render_png,
    render_ticket,
    save_png,
    ticket_content,
    vietnamese_letters,
)


@pytest.fixture
def q(tmp_config):
    return Queue(connect(tmp_config.database_path), tmp_config, FixedClock(datetime(2026, 11, 25, 2, 5, tzinfo=UTC)))


def decode_qr(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(img.convert("L")) if r.format == zxingcpp.BarcodeFormat.QRCode]


def test_ticket_png_is_576_wide_and_qr_gives_status_url(q, artifacts):
    for _ in range(3):
        q.issue("A")
    t = q.issue("A")
    content = ticket_content(q, t, procedure_name="Đăng ký khai sinh")
    png = render_png(content)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width == PAPER_WIDTH_PX and 600 < img.height < 1400
    assert decode_qr(img) == [f"{q.cfg.centre.base_url}/t/{t.token}"]
    assert content.code == "A004" and content.ahead == 3 and content.wait_min == 12.0
    assert content.counters == ("Quầy 1", "Quầy 2") and content.issued_local.hour == 9
    save_png(content, artifacts / "ticket_vi.png")


def test_english_and_priority_tickets(q, artifacts):
    t = q.issue("B", lang="en", priority="elderly")
    content = ticket_content(q, t)
    assert content.lang == "en" and content.service_name == "Land, construction and environment"
    assert content.priority_name == "Elderly person" and content.counters == ("Counter 3",)
    img = render_ticket(content)
    assert decode_qr(img) == [f"{q.cfg.centre.base_url}/t/{t.token}"]
    img.save(artifacts / "ticket_en_priority.png")
    vi = ticket_content(q, t, lang="vi")
    assert vi.priority_name == "Người cao tuổi" and vi.centre_name.startswith("Trung tâm Phục vụ")
    render_ticket(vi).save(artifacts / "ticket_vi_priority.png")


def test_called_ticket_names_the_calling_counter(q):
    t = q.issue("D")
    q.call_next(4, actor="o")
    content = ticket_content(q, t)
    assert content.called and content.counters == ("Quầy 4",) and content.ahead == 0


def test_long_texts_wrap_inside_the_paper(artifacts):
    content = TicketContent(
        centre_name="Trung tâm Phục vụ hành chính công phường Mông Dương, tỉnh Quảng Ninh " * 2,
        code="E999", service_name="Cấp giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản "
        "khác gắn liền với đất lần đầu" * 2, counters=tuple(f"Quầy {i}" for i in range(1, 12)), called=False,
        issued_local=datetime(2026, 11, 25, 16, 59), ahead=123, wait_min=245.2,
        url="http://192.168.1.20:8080/t/" + "x" * 12, priority_name="Người có công với cách mạng",
        procedure_name="Xácnhậntìnhtrạnghônnhânkhôngcókhoảngtrắngnàocảrấtdàiđểkiểmtracắtchữ",
    )
    img = render_ticket(content)
    assert img.width == PAPER_WIDTH_PX
    assert decode_qr(img) == [content.url]
    # nothing is drawn in the left and right margins (text did not overflow)
    px = img.convert("L").load()
    for y in range(img.height):
        assert px[2, y] == 255 and px[img.width - 3, y] == 255
    img.save(artifacts / "ticket_long_texts.png")


def test_wait_text():
    assert format_wait(0.4, "vi") == "sắp đến lượt"
    assert format_wait(12.1, "vi") == "khoảng 13 phút"
    assert format_wait(12.0, "en") == "about 12 min"


def test_labels_exist_in_both_languages():
    assert LABELS["vi"].keys() == LABELS["en"].keys()
    assert all(v.strip() for lang in LABELS.values() for v in lang.values())


def test_font_is_bundled_with_its_licence():
    assert FONT_REGULAR.exists() and FONT_BOLD.exists()
    text = FONT_LICENCE.read_text(encoding="utf-8")
    assert "Bitstream" in text and "Permission is hereby granted" in text


@pytest.mark.parametrize("path", [FONT_REGULAR, FONT_BOLD], ids=["regular", "bold"])
def test_font_covers_every_vietnamese_letter_and_label(path, project_config):
    letters = vietnamese_letters()
    assert len(letters) == 178  # 12 vowels x 6 tones + 17 consonants, in both cases
    cmap = TTFont(path).getBestCmap()
    texts = letters + "".join(LABELS["vi"].values()) + project_config.centre.name.vi
    texts += "".join(s.name.vi for s in project_config.services) + "".join(g.name.vi for g in project_config.priority_groups)
    missing = sorted({ch for ch in texts if not ch.isspace() and ord(ch) not in cmap})
    assert not missing, f"{path.name} lacks {missing}"


def test_vietnamese_letters_render_with_their_marks():
    """Each toned letter draws differently from its bare letter and from the missing-glyph box."""
    f = font(40)

    def draw(ch: str) -> Image.Image:
        img = Image.new("L", (60, 70), 255)
        ImageDraw.Draw(img).text((10, 5), ch, font=f, fill=0)
        return img

    notdef = draw("\ue000")
    for ch in vietnamese_letters():
        img = draw(ch)
        assert ImageChops.difference(img, notdef).getbbox() is not None, f"{ch!r} renders as a box"
        bare = {"đ": "d", "Đ": "D"}.get(ch, unicodedata.normalize("NFD", ch)[0])
        if bare != ch:
            assert ImageChops.difference(img, draw(bare)).getbbox() is not None, f"{ch!r} lost its marks"

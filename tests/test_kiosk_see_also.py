"""'See also: where to go' beside the search results, on the real kiosk (issue 12 item 5, extended).

A citizen who types "ly hôn" gets the ward's procedure (a divorce granted abroad noted in the
civil register) and, above the results, "Nếu Ông/Bà cần ly hôn: Tòa án nhân dân khu vực. …"
(`SearchResult.see_also`). The real App under Xvfb, driven by touches only (letters tapped on
the on-screen keyboard, Telex in Vietnamese); each check reads what is ON SCREEN: the line in
Vietnamese and English, in both text sizes and both orientations, under the top bar, above the
results without covering them, the results still tappable. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from kiosk_helpers import (
    keyboard,
    results_shown,
    serving,
    t,
    type_keys,
    type_vietnamese,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                 reason="needs a display: run under xvfb-run (make test does)")]

DIVORCE_ABROAD = "2.000554"  # Ghi vào Sổ hộ tịch việc ly hôn, hủy việc kết hôn … ở nước ngoài
MARRIAGE = "1.000894"


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.testing import kiosk_config, start

    tmp = tmp_path_factory.mktemp("kiosk-see-also")
    cfg = kiosk_config(tmp)
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # a Tuesday, 09:00 in Vietnam
    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy(), queue_clock=clock))
    drv.wait(lambda: drv.c.services and drv.c.fields, what="home data")
    yield from serving(drv)


@pytest.fixture
def fresh(kiosk):
    kiosk.c.reset()
    kiosk.app.set_orientation("landscape")
    kiosk.pump(0.3)
    assert kiosk.screen() == "home"
    yield kiosk
    kiosk.c.show_message(None)
    kiosk.c.reset()
    kiosk.app.set_orientation("landscape")
    kiosk.pump(0.2)


# -- typing as a citizen does: tests/kiosk_helpers.py ------------------------------------------

def win_box(w):
    """(bottom, top) of a widget in window coordinates."""
    return w.to_window(w.x, w.y)[1], w.to_window(w.x, w.top)[1]


def see_also_label(d):
    """The see-also line if it is on screen (visible, with a height), else None."""
    ids = d.app.screens["search"].ids
    label = next((w for w in d.visible() if getattr(w, "tag", "") == "search:see_also"), None)
    if label is None or not label.text or ids.also.height <= 0:
        return None
    return label


def see_also_fits(d, label):
    """The line sits under the top bar (the query box too), above the results and the keyboard;
    its first line is in view (a longer text scrolls inside the box, from its top); the first
    result row is in view whole, or where the room is short (landscape, larger text) with its
    centre and at least 96 px of it (a touch target is ≥ 64 px)."""
    ids = d.app.screens["search"].ids
    bar_bottom, _ = win_box(ids.bar)
    _, query_top = win_box(ids.query)
    assert query_top <= bar_bottom + 1, f"the query box ({query_top:.0f}) covers the top bar ({bar_bottom:.0f})"
    also_bottom, also_top = win_box(ids.also)
    assert also_top <= bar_bottom + 1, "the see-also box reaches into the top bar"
    results_bottom, results_top = win_box(ids.results)
    assert also_bottom >= results_top - 1, f"the see-also box ({also_bottom:.0f}) covers the results ({results_top:.0f})"
    _, kb_top = win_box(ids.keyboard)
    assert also_bottom > kb_top and results_bottom >= kb_top - 1
    _, label_top = win_box(label)
    assert label_top <= also_top + 1 and also_top - label_top <= ids.also_box.padding[1] + 1, \
        "the line's start is scrolled out of view"
    assert ids.also.height >= min(ids.also_box.height, label.font_size * 1.2), "not even one line of it in view"
    rows = results_shown(d)
    assert rows, "no result row in view under the see-also line"
    row = rows[0]
    assert row.height >= 64, "result rows stay ≥ 64 px touch targets"
    row_bottom, row_top = win_box(row)
    shown = min(row_top, results_top) - max(row_bottom, results_bottom)
    assert shown >= min(row.height - 8, 96), f"only {shown:.0f} px of the first result in view"
    cy = row.to_window(*row.center)[1]
    assert results_bottom < cy < results_top, "the first result's centre is out of view"
    return rows


def test_divorce_shows_the_court_beside_the_results_vi_en(fresh, artifacts):
    d = fresh
    d.tap("search_box")
    type_vietnamese(d, "ly hôn")
    rows = results_shown(d)
    assert rows and rows[0].key == DIVORCE_ABROAD, [r.key for r in rows]
    label = see_also_label(d)
    assert label is not None, "no see-also line on screen"
    line = label.text
    assert line.startswith("Nếu Ông/Bà cần ly hôn:"), line
    assert "Tòa án nhân dân khu vực" in line and "hỏi cán bộ hướng dẫn" in line
    see_also_fits(d, label)
    # readable: dark text on the light box (≥ 4.5:1)
    from kivy.graphics import Color

    from kiosk.palette import contrast_ratio

    bg = next(i.rgba for i in d.app.screens["search"].ids.also_box.canvas.before.children if isinstance(i, Color))
    assert contrast_ratio(label.color, bg) >= 4.5
    d.shot(artifacts, "see-also-divorce-vi", ["Tòa án nhân dân khu vực", t(d, "search.results", count=len(d.c.visit.results))])
    # English, same request: the topic and the office in English, nothing left in Vietnamese
    d.tap("bar:lang")
    d.wait(lambda: d.c.visit.lang == "en", what="English")
    d.pump(0.3)
    label = see_also_label(d)
    assert label is not None
    assert label.text.startswith("If you need a divorce: Regional People's Court."), label.text
    assert "help desk" in label.text and "Tòa án" not in label.text
    see_also_fits(d, label)
    d.shot(artifacts, "see-also-divorce-en", ["Regional People's Court"])
    # larger text: still under the bar, above the results, a result still in view
    d.tap("bar:large")
    assert d.c.visit.large_text
    d.pump(0.4)
    label = see_also_label(d)
    see_also_fits(d, label)
    ids = d.app.screens["search"].ids
    # landscape has little room above the keyboard: the line without the advice, whole, not scrolled
    assert label.text == "If you need a divorce: Regional People's Court.", label.text
    assert ids.also.height >= ids.also_box.height - 1
    d.shot(artifacts, "see-also-divorce-en-large", ["If you need a divorce"])
    # portrait, both text sizes (the kiosk's orientation is configuration, not a touch)
    d.app.set_orientation("portrait")
    d.pump(0.5)
    see_also_fits(d, see_also_label(d))
    d.shot(artifacts, "see-also-divorce-en-large-portrait", ["If you need a divorce"])
    d.tap("bar:large")
    d.pump(0.4)
    see_also_fits(d, see_also_label(d))
    d.tap("bar:lang")
    d.wait(lambda: d.c.visit.lang == "vi", what="Vietnamese")
    d.pump(0.3)
    see_also_fits(d, see_also_label(d))
    assert "Nếu Ông/Bà cần ly hôn" in see_also_label(d).text
    d.shot(artifacts, "see-also-divorce-vi-portrait", ["Tòa án nhân dân khu vực"])
    # the results are still what the visitor taps: the first opens its detail page
    rows = results_shown(d)
    d.tap(rows[0])
    d.wait(lambda: d.screen() == "detail" and d.c.visit.procedure, what="detail page")
    assert d.c.visit.procedure["key"] == DIVORCE_ABROAD
    d.tap("bar:back")
    assert d.screen() == "search" and see_also_label(d) is not None


def test_larger_text_landscape_in_vietnamese_fits(fresh):
    """The tightest case: landscape (the keyboard takes 460 of 1080 px), larger text, Vietnamese."""
    d = fresh
    d.tap("large")
    assert d.c.visit.large_text
    d.tap("search_box")
    type_vietnamese(d, "tôi muốn ly hôn")
    assert results_shown(d)
    label = see_also_label(d)
    assert label is not None and "Tòa án nhân dân khu vực" in label.text
    see_also_fits(d, label)


def test_plain_letters_and_clearing(fresh):
    """Without diacritics the line shows too; clearing the text takes it away with the results."""
    d = fresh
    d.tap("search_box")
    kb = keyboard(d)
    d.tap(kb.keys["key:mode"])  # "Gõ không dấu"
    type_keys(d, "ly hon")
    assert results_shown(d)
    label = see_also_label(d)
    assert label is not None and "Tòa án nhân dân khu vực" in label.text
    d.tap(kb.keys["key:clear"])
    assert results_shown(d) == [] and see_also_label(d) is None
    d.tap(kb.keys["key:mode"])  # back to Telex (the keyboard keeps its mode from one visit to the next)
    assert kb.telex


def test_in_scope_request_shows_no_see_also(fresh):
    d = fresh
    d.tap("search_box")
    type_vietnamese(d, "đăng ký kết hôn")
    rows = results_shown(d)
    assert rows and rows[0].key == MARRIAGE
    assert see_also_label(d) is None
    assert "Nếu Ông/Bà cần" not in d.texts()
    # the results take all the room the box would have taken
    ids = d.app.screens["search"].ids
    assert ids.also.height == 0


def test_out_of_scope_request_is_still_no_match_with_where_to_go(fresh):
    d = fresh
    d.tap("search_box")
    type_vietnamese(d, "làm hộ chiếu")
    assert results_shown(d) == []
    shown = d.texts()
    assert t(d, "search.no_match") in shown and "Phòng Quản lý xuất nhập cảnh" in shown
    assert see_also_label(d) is None and "Nếu Ông/Bà cần" not in shown


def test_voice_landing_on_search_shows_see_also(fresh):
    """The voice path that lands on the search screen searches the words heard (kiosk/flows/voice.py
    `_understood`): the see-also comes with the results, through the same visit field."""
    from voice import events as e

    d = fresh
    d.c.on_voice_event(e.Understood(kind="search", target="", label="", text="ly hôn", score=0.5))
    d.wait(lambda: d.screen() == "search" and d.c.visit.results and not d.c.visit.searching, timeout=20,
           what="results from speech")
    d.pump(0.3)
    label = see_also_label(d)
    assert label is not None and "Tòa án nhân dân khu vực" in label.text
    see_also_fits(d, label)


def test_no_error_logged(kiosk):
    assert kiosk.errors == []

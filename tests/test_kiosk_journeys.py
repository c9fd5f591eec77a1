"""Citizens' journeys through the real kiosk (issue 12), in Vietnamese and in English.

The real App under Xvfb, driven only by touches at the screen coordinates where things are
drawn: letters are typed by tapping the on-screen keyboard's keys (Vietnamese by Telex, as a
citizen types), results, rows and buttons are tapped at their centre. Each check reads what is
ON SCREEN (texts of visible widgets, the screen shown, whether a section lies inside the
scrolled viewport), not the controller's state alone. One App for the module (Kivy allows one);
the journeys run in file order on it, each starting from a fresh visit. Screenshots go to
tests/artifacts/journey-*.png for a person to look at.
"""

from __future__ import annotations

import os
import unicodedata
from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                 reason="needs a display: run under xvfb-run (make test does)")]

BIRTH = "1.001193"  # Đăng ký khai sinh
MARRIAGE = "1.000894"  # Đăng ký kết hôn
RESIDENCE = "1.004222"  # Đăng ký thường trú


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.testing import kiosk_config, sample_dossier_lookup, start

    tmp = tmp_path_factory.mktemp("kiosk-journeys")
    cfg = kiosk_config(tmp)
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # a Tuesday, 09:00 in Vietnam
    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy(), queue_clock=clock),
                dossier_lookup=sample_dossier_lookup())
    drv.wait(lambda: drv.c.services and drv.c.fields, what="home data")
    yield drv
    drv.stop()


@pytest.fixture
def fresh(kiosk):
    """Each journey starts at Home with a fresh visit, in Vietnamese, landscape."""
    kiosk.c.reset()
    kiosk.pump(0.2)
    assert kiosk.screen() == "home"
    yield kiosk
    kiosk.c.show_message(None)
    kiosk.c.reset()
    kiosk.pump(0.1)


# -- typing as a citizen does -------------------------------------------------------------------

_MARKS = {"\u0302": {"a": "aa", "e": "ee", "o": "oo"}, "\u0306": {"a": "aw"}, "\u031b": {"o": "ow", "u": "uw"}}
_TONES = {"\u0301": "s", "\u0300": "f", "\u0309": "r", "\u0303": "x", "\u0323": "j"}


def telex(text: str) -> str:
    """The keys a Vietnamese citizen presses on a Telex keyboard for `text` (tone last in the word)."""
    words = []
    for word in text.lower().split(" "):
        keys, tone = "", ""
        for ch in word:
            if ch == "đ":
                keys += "dd"
                continue
            base, *marks = unicodedata.normalize("NFD", ch)
            key = base
            for m in marks:
                if m in _TONES:
                    tone = _TONES[m]
                else:
                    key = _MARKS[m][base]
            keys += key
        words.append(keys + tone)
    return " ".join(words)


def keyboard(d):
    return d.app.screens[d.screen()].ids.keyboard


def type_keys(d, keys: str) -> None:
    """Tap each key of the on-screen keyboard at its centre (a space is the space bar)."""
    kb = keyboard(d)
    for ch in keys:
        d.tap(kb.keys["key:space" if ch == " " else f"key:{ch}"], settle=0.02)


def type_vietnamese(d, text: str) -> None:
    kb = keyboard(d)
    assert kb.telex, "the keyboard types Telex in Vietnamese"
    type_keys(d, telex(text))
    assert kb.text == text, f"Telex typed {kb.text!r}, not {text!r}"


def results_shown(d):
    """Wait for the search, then the result rows in view, top first (their keys)."""
    d.wait(lambda: not d.c.visit.searching and d.screen() == "search", timeout=20, what="search finished")
    d.pump(0.3)
    rv = d.app.screens["search"].ids.results
    x0, y0 = rv.to_window(*rv.pos)
    rows = [w for w in d.visible() if getattr(w, "tag", "").startswith("hit:")
            and y0 < w.to_window(*w.center)[1] < y0 + rv.height]
    return sorted(rows, key=lambda w: -w.to_window(*w.center)[1])


def texts(d) -> str:
    return d.texts()


def t(d, key, lang=None, **kw):
    return d.app.tr(key, lang or d.c.visit.lang, **kw)


def in_viewport(d, w) -> bool:
    """The widget's top part is inside the detail page's scrolled viewport."""
    scroll = d.app.screens["detail"].ids.scroll
    _, sy = scroll.to_window(*scroll.pos)
    _, wy = w.to_window(w.x, w.top)
    return sy < wy <= sy + scroll.height + 1


def at_top_of_view(d, w) -> bool:
    """The widget's top is in the top quarter of the detail page's view, or the page is at its end."""
    scroll = d.app.screens["detail"].ids.scroll
    _, sy = scroll.to_window(*scroll.pos)
    _, wy = w.to_window(w.x, w.top)
    return sy + 0.75 * scroll.height < wy <= sy + scroll.height + 1 or scroll.scroll_y < 0.001


def asked_section(d):
    """The widget the detail page highlights as the section the question asked about."""
    marks = [w for w in d.visible() if getattr(w, "asked", False)]
    assert len(marks) == 1, f"expected one highlighted section, found {len(marks)}"
    return marks[0]


def search_and_open_first(d, text: str, key: str):
    d.tap("search_box")
    assert d.screen() == "search"
    type_vietnamese(d, text)
    rows = results_shown(d)
    assert rows and rows[0].key == key, f"{text!r}: first result {[r.key for r in rows[:3]]}"
    d.tap(rows[0])
    d.wait(lambda: d.screen() == "detail" and d.c.visit.procedure, what="detail page")
    d.pump(0.3)
    assert d.c.visit.procedure["key"] == key


# -- 1. a question typed as a sentence opens the detail page where it asks -------------------------


def test_long_question_opens_the_documents_section(fresh, artifacts):
    d = fresh
    search_and_open_first(d, "con tôi mới sinh làm giấy khai sinh cần giấy tờ gì", BIRTH)
    mark = asked_section(d)
    assert mark.section == "documents"
    assert t(d, "detail.submit") in mark.text  # "Giấy tờ cần nộp"
    assert at_top_of_view(d, mark), "the documents section is not scrolled to the top of the view"
    # the documents themselves show under it
    docs = [w for w in d.visible() if type(w).__name__ == "DocRow" and in_viewport(d, w)]
    assert docs, "no document of the checklist in view"
    d.shot(artifacts, "journey-documents-vi", [t(d, "detail.asked"), "Đăng ký khai sinh"])


def test_fee_question_opens_at_the_fee(fresh, artifacts):
    d = fresh
    search_and_open_first(d, "đăng ký khai sinh hết bao nhiêu tiền", BIRTH)
    mark = asked_section(d)
    assert mark.section == "fee" and "Miễn phí" in mark.text
    assert in_viewport(d, mark)
    d.shot(artifacts, "journey-fee-vi", [t(d, "detail.asked")])


@pytest.mark.parametrize("question, key, section", [
    ("đăng ký kết hôn nộp ở đâu", MARRIAGE, "place"),
    ("đăng ký thường trú mất bao lâu", RESIDENCE, "time"),
])
def test_where_and_how_long_open_at_their_section(fresh, question, key, section):
    d = fresh
    search_and_open_first(d, question, key)
    mark = asked_section(d)
    assert mark.section == section
    assert in_viewport(d, mark)
    word = {"place": t(d, "detail.where_line", counter="", service="").split(":")[0],
            "time": t(d, "detail.time_line", time="").split(":")[0]}[section]
    assert word in mark.text


def test_a_name_alone_opens_at_the_top(fresh):
    """No question asked: nothing highlighted, the page at its top."""
    d = fresh
    search_and_open_first(d, "đăng ký kết hôn", MARRIAGE)
    assert not [w for w in d.visible() if getattr(w, "asked", False)]
    assert d.app.screens["detail"].ids.scroll.scroll_y > 0.99

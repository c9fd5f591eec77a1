"""Every tap lands (issue 14): on every screen, in both orientations, both text sizes, vi and en, the
centre of every visible enabled button is tapped through the window as a real touch event, and
each must act (its own release fired and it called the controller or typed on its keyboard).

Also the keyboard, the message banner's "Đóng" and the idle warning's big button, and that a
hidden overlay takes no touch. Screenshots of every screen in every combination go to
tests/artifacts/kiosk/ (a person looks at them). One App for the module (Kivy allows one).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from kiosk.testing import COMBOS, audit_every_screen

pytestmark = pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                reason="needs a display: run under xvfb-run (make test does)")

PIN = "730591"


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    from escpos.printer import Dummy

    from centre.clock import FixedClock
    from kiosk.backend import Backend
    from kiosk.testing import kiosk_config, start

    tmp = tmp_path_factory.mktemp("kiosk-taps")
    cfg = kiosk_config(tmp, pin=PIN)
    clock = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # a Tuesday, 09:00 in Vietnam
    drv = start(cfg, tmp, backend=Backend(cfg, printer=Dummy(), queue_clock=clock),
                dossier_lookup=_dossiers())
    drv.wait(lambda: drv.c.services and drv.c.fields, what="home data")
    yield drv
    drv.stop()


def _dossiers():
    from kiosk.testing import sample_dossier_lookup

    return sample_dossier_lookup()




@pytest.mark.parametrize("orientation, large, lang", COMBOS,
                         ids=[f"{o}-{'large' if g else 'normal'}-{lang}" for o, g, lang in COMBOS])
def test_every_button_acts_when_tapped_at_its_centre(kiosk, artifacts, orientation, large, lang):
    folder = artifacts / "kiosk"
    folder.mkdir(parents=True, exist_ok=True)
    tapped, dead = audit_every_screen(kiosk, [(orientation, large, lang)], shots=folder)
    assert tapped >= 16 * 4, f"only {tapped} buttons found"
    assert not dead, f"{len(dead)} of {tapped} buttons did nothing when tapped at their centre: {dead}"


def test_keyboard_keys_type_where_they_are_drawn(kiosk):
    """Every key of the on-screen keyboard, tapped at its centre, types its letter (both orientations)."""
    d, c = kiosk, kiosk.c
    try:
        for orientation in ("landscape", "portrait"):
            d.app.set_orientation(orientation)
            c.reset()
            c.open_search()
            d.pump(0.3)
            kb = d.app.screens["search"].ids.keyboard
            kb.telex = kb.buffer.telex = False
            for tag, key in list(kb.keys.items()):
                if len(tag) != len("key:") + 1:
                    continue
                kb.clear()
                d.tap(key)
                assert kb.text == tag[-1], f"{orientation}: key {tag} typed {kb.text!r}"
            d.tap(kb.keys["key:a"])
            d.tap(kb.keys["key:clear"])
            assert kb.text == ""
            d.tap(kb.keys["key:mode"])
            assert kb.telex
    finally:
        c.reset()
        d.app.set_orientation("landscape")
        d.pump(0.3)


def test_hidden_overlay_takes_no_touch_and_shown_overlay_acts(kiosk):
    d, c = kiosk, kiosk.c
    c.reset()
    c.open_directions()
    d.pump(0.3)
    # the hidden idle card and banner lie over the screen's buttons: a tap there still lands
    place = d.find("place:counter_1")
    d.tap(place)
    assert c.visit.destination["waypoint"] == "counter_1"
    c.show_message("error.generic")
    d.pump(0.2)
    d.tap("message:close")
    assert c.message is None
    c.idle_warning = True
    c._emit("idle")
    d.pump(0.2)
    stay = d.find("idle:stay")
    assert stay.height >= 150  # a big "Tôi vẫn đang dùng"
    d.tap(stay)
    assert not c.idle_warning
    c.reset()
    d.pump(0.1)

"""Citizens' journeys of round 9 on the real kiosk by touch (slow UI tests under Xvfb).

The real App, driven by touches at the screen coordinates where things are drawn, each check
reading what is on screen or what "Đọc to" said: a ticket, then a dossier looked up, then the way
to a counter with the robot, in one visit; an English visitor who only listens to "Đọc to" on a
list of procedures (every name heard whole, not cut mid-phrase); larger text in portrait (every
row of the lists holds its text inside its card); the idle warning left for 15 s on each kind of
screen, then answered (the visitor keeps their place, language and text size).
One App for the module (Kivy allows one); each journey starts from a fresh visit.
"""

from __future__ import annotations

import os
import re

import pytest
from kiosk_helpers import journey_kiosk, new_citizen, serving, t, type_keys

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run (make test does)"
    ),
]

BIRTH = "1.001193"  # Đăng ký khai sinh
DOSSIER = "000.00.40.H40-261120-0009"
#: words an English name's phrase never ends with ("… or a copy of a" was heard)
DANGLING = {"a", "an", "the", "of", "or", "and", "to", "for", "in", "with", "by", "on", "who", "where"}


class RobotComes:
    """An escort manager whose robot accepts: records each request (waypoint, counter, ticket)."""

    def __init__(self):
        self.requests: list[tuple] = []

    def request(self, waypoint, *, counter=None, ticket=None):
        self.requests.append((waypoint, counter, ticket))
        return 11

    def cancel(self, eid):
        pass


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    record = {
        "code": DOSSIER,
        "procedure_code": BIRTH,
        "applicant_name": "Lê Văn Nam",
        "received_at": "2026-11-20 09:00",
        "state": "supplement_requested",
        "counter": "Quầy 2",
        "missing_documents": ["Giấy chứng sinh"],
    }
    drv = journey_kiosk(tmp_path_factory.mktemp("kiosk-journeys-r9"), [record])
    yield from serving(drv)


@pytest.fixture
def fresh(kiosk):
    """A new citizen at Home, Vietnamese, landscape, normal text (more than the double-tap guard
    after the last touch)."""
    yield from new_citizen(kiosk, 0.6)
    kiosk.app.set_orientation("landscape")
    kiosk.pump(0.2)


def choose(d, lang: str, large: bool, orientation: str = "landscape") -> None:
    """The citizen's language and text size, by touch on Home; the screen turned as the kiosk is."""
    d.app.set_orientation(orientation)
    d.pump(0.3)
    if d.c.visit.lang != lang:
        d.tap("lang")
    if large != d.c.visit.large_text:
        d.tap("large")
    assert (d.c.visit.lang, d.c.visit.large_text) == (lang, large)


def heard(d, tag: str) -> str:
    """Tap "Đọc to" (`tag`) and return what the kiosk said."""
    d.speaker.said.clear()
    d.tap(tag)
    d.wait(lambda: d.speaker.said, what="read aloud")
    text, lang = d.speaker.said[-1]
    assert lang == d.c.visit.lang
    return text


# -- 1. a ticket, then a dossier, then the way to a counter with the robot, in one visit ---------------


def test_ticket_then_dossier_then_directions_with_the_robot(fresh):
    """Before: with a ticket in the visit, "Chỉ đường" from Home showed a bare map (no places to
    choose, no robot button) while "Đọc to" asked the citizen to touch a place."""
    d, c = fresh, fresh.c
    saved, c.escort_mgr = c.escort_mgr, RobotComes()
    try:
        d.tap("home:ticket")
        d.wait(lambda: d.screen() == "service", what="services")
        d.tap("service:B")
        d.wait(lambda: d.screen() == "ticket" and c.visit.ticket, what="ticket")
        number = c.visit.ticket["number"]
        d.tap("bar:back", settle=0.6)  # a citizen's second tap at the same place, after a look
        d.tap("bar:back", settle=0.6)
        assert d.screen() == "home" and c.visit.ticket["number"] == number
        d.tap("home:dossier")
        if d.app.screens["dossier"].ids.keyboard.opacity == 0:
            d.tap("dossier:edit")
        type_keys(d, "h40-261120-0009")
        d.tap("dossier:find")
        d.wait(lambda: c.visit.dossier_state == "found", what="dossier found")
        assert t(d, "dossier.state_supplement_requested") in d.texts()
        d.tap("bar:back", settle=0.6)
        assert d.screen() == "home"
        d.tap("home:directions")
        assert d.screen() == "directions"
        assert t(d, "directions.choose") in d.texts(), "no choice of places on the directions screen"
        said = heard(d, "directions:read")
        assert t(d, "directions.choose") in said
        d.tap("place:counter_2")
        assert c.visit.destination["waypoint"] == "counter_2"
        assert d.app.screens["directions"].ids.map.route, "no route drawn"
        d.tap("directions:robot")
        d.wait(lambda: c.escort_mgr.requests, what="the robot asked")
        waypoint, _, ticket = c.escort_mgr.requests[-1]
        assert (waypoint, ticket) == ("counter_2", number)
        assert c.visit.ticket["number"] == number
    finally:
        c.escort_mgr = saved


# -- 2. an English visitor who listens: names heard whole -----------------------------------------------


def _names_heard(said: str, lead: str) -> list[str]:
    """The names in a list read aloud: after `lead` ("Procedures: 42."), up to "N more" or "Please"."""
    body = said.split(lead, 1)[1]
    body = re.split(r"\s\d+ more\b|\sPlease\b|\sIf you need\b", body)[0]
    return [n.strip(" .") for n in body.split(";") if n.strip(" .")]


def test_english_read_aloud_says_every_name_whole(fresh):
    """Before: "Issuance of a copy of a civil status extract or a copy of a; …" (an English name
    cut at 14 words, mid-phrase)."""
    d, c = fresh, fresh.c
    choose(d, "en", False)
    d.tap("home:lookup")
    d.wait(lambda: d.screen() == "fields" and c.fields, what="fields")
    d.pump(0.3)
    d.tap(d.row("field:ho-tich", d.app.screens["fields"].ids.list))
    d.wait(lambda: d.screen() == "procedures" and c.visit.procedures, what="civil status procedures")
    d.pump(0.3)
    said = heard(d, "procedures:read")
    names = _names_heard(said, "Procedures: ")
    names[0] = names[0].split(". ", 1)[1]  # "42. Issuance …"
    assert len(names) >= 2, said
    for name in names:
        assert name.split()[-1].lower() not in DANGLING, f"a name cut mid-phrase: {name!r} in {said!r}"
    assert len(said.split()) <= 60
    # the search results read the same way
    c.open_search("copy of a birth certificate")
    d.wait(lambda: d.screen() == "search" and c.visit.results and not c.visit.searching, what="results")
    d.pump(0.3)
    said = heard(d, "search:read")
    names = _names_heard(said, "Procedures found: ")
    names[0] = names[0].split(". ", 1)[1]
    for name in names:
        assert name.split()[-1].lower() not in DANGLING, f"a name cut mid-phrase: {name!r} in {said!r}"


# -- 3. larger text in portrait: every list row holds its text ------------------------------------------


def _rows_spilling(d, screen: str, list_id: str = "list") -> list[str]:
    """Rows of the list whose text (as the App's own ListRow draws it) is taller than their card."""
    from kivy.factory import Factory
    from kivy.metrics import dp

    lst = d.app.screens[screen].ids[list_id]
    out = []
    for row in lst.data:
        w = Factory.ListRow(text=row["text"], font_size=row["font_size"], size_hint=(None, None))
        w.size = (lst.width, row["row_size"][1])
        w.texture_update()
        if w.texture_size[1] - 2 * dp(12) > w.height - dp(8):  # the text, less its padding, vs the card
            out.append(f"{row['tag']}: text {w.texture_size[1]:.0f} px in a {w.height:.0f} px row")
    shown = [w for w in d.visible() if getattr(w, "tag", "").split(":")[0] in ("field", "proc", "hit")]
    assert shown, f"{screen}: no rows shown"
    return out


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_larger_text_in_portrait_every_row_holds_its_text(fresh, lang):
    """Before: the row height was estimated for regular letters and the names are bold: "Cooperative
    economy and rural development" (fields) and "Registration of the termination of guardianship"
    (civil status) took a line more than their row, drawn over the rows beside them."""
    d, c = fresh, fresh.c
    choose(d, lang, True, "portrait")
    d.tap("home:lookup")
    d.wait(lambda: d.screen() == "fields" and c.fields, what="fields")
    d.pump(0.3)
    spilling = _rows_spilling(d, "fields")
    for field in ("ho-tich", "nong-nghiep"):
        c.open_field(field) if field != "ho-tich" else d.tap(
            d.row("field:ho-tich", d.app.screens["fields"].ids.list)
        )
        d.wait(lambda: d.screen() == "procedures" and c.visit.procedures, what=f"{field} procedures")
        d.pump(0.3)
        spilling += _rows_spilling(d, "procedures")
        d.tap("bar:back", settle=0.6)
    c.open_search("xác nhận tình trạng hôn nhân" if lang == "vi" else "marital status certificate")
    d.wait(lambda: d.screen() == "search" and c.visit.results and not c.visit.searching, what="results")
    d.pump(0.3)
    spilling += _rows_spilling(d, "search", "results")
    assert not spilling, spilling


# -- 4. the idle warning left 15 s, then answered: the place is kept -------------------------------------


def _place(c):
    v = c.visit
    return (
        c.screen,
        v.lang,
        v.large_text,
        (v.ticket or {}).get("number"),
        v.procedure and v.procedure["key"],
        len(v.results or []),
        v.dossier_state,
        (v.destination or {}).get("waypoint"),
    )


def test_idle_warning_answered_after_15_seconds_keeps_the_place(fresh):
    d, c = fresh, fresh.c
    cfg = d.app.cfg.kiosk
    choose(d, "en", True, "portrait")
    steps = [
        ("detail", lambda: c.open_procedure(BIRTH), lambda: c.visit.procedure),
        (
            "search",
            lambda: c.open_search("birth registration"),
            lambda: c.visit.results and not c.visit.searching,
        ),
        ("ticket", lambda: (c.open_ticket(), c.choose_service("B")), lambda: c.visit.ticket),
        (
            "dossier",
            lambda: (c.open_dossiers(), c.dossier_typed("H40-261120-0009"), c.dossier_find()),
            lambda: c.visit.dossier_state == "found",
        ),
        ("directions", lambda: (c.open_directions(), c.pick_place("counter_3")), lambda: c.visit.destination),
    ]
    for name, go, ready in steps:
        go()
        d.wait(lambda name=name, ready=ready: d.screen() == name and ready(), what=name)
        d.pump(0.3)
        before = _place(c)
        c.last_activity -= cfg.idle_timeout_s - cfg.idle_warning_s + 0.5
        d.wait(lambda: c.idle_warning and d.app.overlay.idle_text, what=f"{name}: idle warning")
        seconds = int(re.search(r"\d+", d.app.overlay.idle_text).group())
        assert seconds >= 20 and t(d, "idle.stay") in d.texts(), d.app.overlay.idle_text
        c.last_activity -= 15  # the citizen answers 15 s later
        d.pump(1.2)
        assert c.idle_warning and d.screen() == name, f"{name}: the visit ended before the warning's time"
        stay = d.find("idle:stay")
        x, y = stay.to_window(*stay.pos)
        assert stay.height >= 64 and 0 <= y and y + stay.height <= d.app.root.height
        d.tap(stay)
        assert not c.idle_warning and _place(c) == before, f"{name}: {before} -> {_place(c)}"


def test_no_error_in_the_log_after_all_journeys(kiosk):
    assert not kiosk.errors, kiosk.errors


# -- 5. an English visitor looks up a dossier: the counter in English -----------------------------------


def test_dossier_in_english_names_the_counter_in_english(fresh):
    """Before: "Please bring the documents below to Quầy 2." (the one-stop system's counter text
    as written), on screen and read aloud, where the kiosk's own counter 2 is "Counter 2"."""
    d, c = fresh, fresh.c
    choose(d, "en", False)
    d.tap("home:dossier")
    if d.app.screens["dossier"].ids.keyboard.opacity == 0:
        d.tap("dossier:edit")
    type_keys(d, "h40-261120-0009")
    d.tap("dossier:find")
    d.wait(lambda: c.visit.dossier_state == "found", what="dossier found")
    d.pump(0.3)
    step = t(d, "dossier.next_supplement", counter="Counter 2")
    assert step in d.texts() and "Quầy" not in d.texts(), d.texts()
    said = heard(d, "dossier:read")
    assert "Counter 2" in said and "Quầy" not in said, said
    d.tap("bar:lang")
    assert t(d, "dossier.next_supplement", counter="Quầy 2") in d.texts()


# -- 6. a dossier found: the way to its counter from the dossier screen ----------------------------------


def test_dossier_found_guides_the_citizen_to_its_counter(fresh):
    """Before: the dossier screen said "Please bring the documents below to Quầy 2" with no way
    there but Home, "Chỉ đường" and finding the counter in the list again."""
    d, c = fresh, fresh.c
    saved, c.escort_mgr = c.escort_mgr, RobotComes()
    try:
        d.tap("home:dossier")
        if d.app.screens["dossier"].ids.keyboard.opacity == 0:
            d.tap("dossier:edit")
        type_keys(d, "h40-261120-0009")
        d.tap("dossier:find")
        d.wait(lambda: c.visit.dossier_state == "found", what="dossier found")
        d.pump(0.3)
        guide = d.find("dossier:guide")
        assert guide.height >= 64 and guide.text == t(d, "detail.guide")
        d.tap(guide)
        d.wait(lambda: d.screen() == "directions" and c.escort_mgr.requests, what="the robot asked")
        assert c.escort_mgr.requests[-1][:2] == ("counter_2", 2)
        assert d.app.screens["directions"].ids.map.route, "no route drawn"
        assert t(d, "directions.route_to", place="Quầy 2") in d.texts()
        d.tap("bar:back", settle=0.6)
        assert d.screen() == "dossier" and c.visit.dossier_state == "found"
    finally:
        c.escort_mgr = saved

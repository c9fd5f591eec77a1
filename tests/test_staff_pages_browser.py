"""Staff pages in Chromium (issue 16): every page at 1920×1080 and on a 390×844 phone without
horizontal overflow; the hall display at 4, 10 and 16 counters (1080p and 4K) with every number
inside its box and "Tạm dừng" on paused counters; the display reconnecting after a 503 and after
the server was down, announcing the calls it missed marked late; the console ignoring a repeated
key and asking before "next" over a called ticket; the counters page saving checkboxes at once.

One browser for the module; one server on a real SQLite file (restarted once, on the same port)."""

from __future__ import annotations

import time

import pytest
import staff_helpers
from staff_helpers import CHROMIUM, FULL_HD, PHONE, UHD

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="apt install chromium")]
site, browser = staff_helpers.site, staff_helpers.browser  # the module's fixtures


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0 = no horizontal scroll)."""
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - innerWidth")


def test_every_page_fits_full_hd_and_a_phone(site, browser, artifacts):
    t = site.qu.issue("A", actor="kiosk", procedure_key=None)
    pages = ["/account", "/console/1", "/rate/1", "/display", "/reports", "/reports/print?month=2026-11",
             "/dossiers", "/dossiers/digest", "/dossiers/import", "/docs"]
    pages += [f"/admin/{s}" for s in ("services", "counters", "hours", "priority", "users", "catalogue", "audit")]
    public = ["/login", t.status_path]
    problems = []
    for viewport in (FULL_HD, PHONE):
        for user, paths in ((None, public), (site.admin, pages)):
            ctx = site.context(browser, user, viewport)
            page = ctx.new_page()
            for path in paths:
                r = page.goto(site.url + path)
                assert r.status < 400, (path, r.status)
                page.wait_for_load_state("load")
                page.wait_for_timeout(150)
                extra = overflow(page)
                if extra > 0:
                    problems.append(f"{path} at {viewport['width']}px: {extra} px too wide")
                if viewport is PHONE and path in ("/admin/counters", "/reports", "/reports/print?month=2026-11"):
                    name = path.strip("/").split("?")[0].replace("/", "-")
                    page.screenshot(path=str(artifacts / f"staff-{name}-phone.png"), full_page=True)
            ctx.close()
    assert not problems, problems


def _counters(site, n: int) -> None:
    """Make the centre have counters 1..n (adding runtime counters), each with a called ticket; 3 paused."""
    qu = site.qu
    have = {c.id for c in qu.counters()}
    waypoints = ["counter_1", "counter_2", "counter_3", "counter_4"]
    for cid in range(1, n + 1):
        if cid not in have:
            qu.update_counter(cid, actor="test", name_vi=f"Quầy {cid}", name_en=f"Counter {cid}",
                              services=["ABCD"[cid % 4]], waypoint=waypoints[cid % 4], state="open")
    for cid in range(1, n + 1):
        c = qu.counter(cid)
        if c.state != "open":
            qu.set_counter_state(cid, "open", actor="test")
        if qu.current_ticket(cid) is None:
            qu.issue(c.services[0], actor="kiosk")
            qu.call_next(cid, actor="test", current="no_show")
    qu.set_counter_state(3, "paused", actor="test")


@pytest.mark.parametrize("n", [4, 10, 16])
def test_display_keeps_numbers_in_their_boxes(site, browser, artifacts, n):
    _counters(site, n)
    for viewport in (FULL_HD, UHD):
        ctx = site.context(browser, site.admin, viewport)
        page = ctx.new_page()
        page.goto(site.url + "/display")
        page.wait_for_function(f"() => document.querySelectorAll('.counter-box').length === {n}")
        page.wait_for_timeout(200)
        boxes = page.evaluate("""() => [...document.querySelectorAll('.counter-box')].map((b) => {
            const r = b.getBoundingClientRect(), code = b.querySelector('.ccode'), name = b.querySelector('.cname');
            return {id: b.dataset.counter, right: r.right, bottom: r.bottom, code: code.textContent,
                    codeFits: code.scrollWidth <= code.clientWidth + 1 && code.getBoundingClientRect().bottom <= r.bottom + 1,
                    nameFits: name.getBoundingClientRect().right <= r.right + 1,
                    state: (b.querySelector('.cstate') || {}).textContent || '',
                    codePx: parseFloat(getComputedStyle(code).fontSize)}; })""")
        w, h = viewport["width"], viewport["height"]
        assert len(boxes) == n
        for b in boxes:
            assert b["right"] <= w + 1 and b["bottom"] <= h + 1, (n, viewport, b)
            assert b["codeFits"] and b["nameFits"], (n, viewport, b)
            assert b["code"] != "—"
            # readable across a hall: at least 6 % of the screen height for 16 counters on any screen
            assert b["codePx"] >= h * 0.06, (n, viewport, b)
        assert [b["state"] for b in boxes if b["id"] == "3"] == ["Tạm dừng"]
        assert overflow(page) <= 0
        if viewport is FULL_HD:
            page.screenshot(path=str(artifacts / f"staff-display-{n}.png"))
        ctx.close()


def test_display_reconnects_after_503_and_after_a_restart_and_announces_missed_calls(site, browser):
    from staff.events import StreamLimits

    app = site.handle.app
    app.state.staff.broker.limits = StreamLimits(staff=0)  # every display stream refused (503)
    ctx = site.context(browser, site.admin, FULL_HD)
    page = ctx.new_page()
    page.goto(site.url + "/display")
    page.wait_for_function("() => window.displayDebug && window.displayDebug().reconnects >= 1")
    assert page.is_visible("#offline")
    app.state.staff.broker.limits = StreamLimits()
    page.wait_for_function("() => window.displayDebug().connected", timeout=15000)
    page.wait_for_selector("#offline", state="hidden")
    # the server goes away; a call is made meanwhile (by another process: the CLI, a second server)
    site.handle.stop()
    page.wait_for_function("() => !window.displayDebug().connected", timeout=15000)
    site.qu.set_counter_state(1, "open", actor="test")
    cur = site.qu.current_ticket(1)
    if cur is not None and cur.state == "called":
        site.qu.start(cur, actor="test")
    missed = site.qu.issue("A", actor="kiosk")
    site.qu.call(missed, 1, actor="test", current="no_show")
    time.sleep(1.0)
    site.start()
    page.wait_for_function("() => window.displayDebug().lateCalls >= 1", timeout=40000)
    late = page.inner_text("#recent li.late")
    assert missed.code in late and "Gọi lúc" in late
    assert page.evaluate("window.displayDebug().announced") >= 1
    ctx.close()


def test_console_ignores_a_repeated_key_and_asks_before_next(site, browser):
    qu = site.qu
    cur = qu.current_ticket(1)
    if cur is not None:
        qu.no_show(cur, actor="test") if cur.state == "called" else qu.serve(cur, actor="test")
    for t in qu.list(state="waiting"):
        qu.cancel(t, actor="test")
    proc = next(p for p in __import__("centre.catalogue", fromlist=["Catalogue"]).Catalogue(site.conn).procedures()
                if p.code)
    served_before = len(qu.list(state="served"))
    first = qu.issue("A", actor="kiosk", procedure_key=proc.key)
    second = qu.issue("A", actor="kiosk")
    ctx = site.context(browser, site.officer, FULL_HD)
    page = ctx.new_page()
    page.goto(site.url + "/console/1")
    page.wait_for_function("() => document.getElementById('waiting-count').textContent === '2'")
    page.keyboard.press("n")
    page.keyboard.press("n")  # within the repeat window: ignored
    page.wait_for_function(f"() => document.getElementById('current-code').textContent === '{first.code}'")
    assert page.evaluate("window.consoleDebug().ignored") == 1
    assert proc.name in page.inner_text("#current-procedure")
    assert qu.get(second).state == "waiting"
    page.wait_for_timeout(1600)
    page.keyboard.press("n")  # "next" over a called, never-started ticket: the console asks
    page.wait_for_selector("#ask", state="visible")
    assert first.code in page.inner_text("#ask")
    page.click("#ask-noshow")
    page.wait_for_function(f"() => document.getElementById('current-code').textContent === '{second.code}'")
    assert qu.get(first).state == "no_show" and len(qu.list(state="served")) == served_before
    ctx.close()


def test_counters_page_on_a_phone_adds_a_counter_with_checkboxes(site, browser):
    ctx = site.context(browser, site.admin, PHONE)
    page = ctx.new_page()
    page.goto(site.url + "/admin/counters")
    before = {c.id for c in site.qu.counters()}
    page.click("#add-counter")
    row = page.locator(".counter-row.new").last
    row.locator("input[name=name_vi]").fill("Quầy mới")
    row.locator("input[name=name_en]").fill("New counter")
    row.locator("input[name=services][value=B]").check()
    row.locator("input[name=services][value=C]").check()
    page.locator(".counter-row[data-id='2'] input[name=services][value=D]").uncheck()
    assert overflow(page) <= 0
    page.click("#counters-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('admin-message').textContent.length > 0")
    assert "flash-ok" in page.get_attribute("#admin-message", "class"), page.inner_text("#admin-message")
    added = {c.id for c in site.qu.counters()} - before
    assert len(added) == 1
    assert site.qu.counter(added.pop()).services == ("B", "C")
    assert site.qu.counter(2).services == ("A",)
    ctx.close()

"""Round 11: the staff pages as the docs promise them, in Chromium, one role at a time.

Faults found by reading README.md and docs/staff.md as a new officer and administrator would and
doing what they say (each test failed before its fix):
- the admin's "Chỉ số" (indicators) page and its menu link were Vietnamese only in English mode;
- the console's "Đang mở"/"Open" badge was green on green at 4.46:1 (< 4.5:1);
- the dossier search box and the import form's file field had no label;
- on the console, Space on a focused button (Tab to "Start", Space) called the next citizen instead,
  and Esc did not close the "called but not started" question;
- the keyboard focus was Chromium's 1 px ring, dark on the dark blue of the "Call next" button.

One browser and one server (a real SQLite file, the shipped config.yaml) for the module."""

from __future__ import annotations

import re
import time

import province_helpers
import pytest
import staff_helpers
from staff_helpers import CHROMIUM, FULL_HD, PHONE, VIETNAMESE

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="apt install chromium")]

# WCAG contrast of every visible text against the first opaque background behind it.
CONTRAST_JS = r"""
() => {
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lin = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const back = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0.5) return c; } return [255, 255, 255]; };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.offsetParent === null || el.closest("button:disabled")) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(back(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return low;
}
"""

UNLABELLED_JS = r"""
() => [...document.querySelectorAll("input, select, textarea")]
  .filter((f) => f.type !== "hidden" && f.offsetParent !== null)
  .filter((f) => !(f.labels && f.labels.length) && !f.getAttribute("aria-label") && !f.getAttribute("aria-labelledby"))
  .map((f) => f.outerHTML.slice(0, 100))
"""


def until(page, js: str, timeout: float = 3.0) -> None:
    """Wait until the expression `js` is true in the page (the pages' CSP forbids wait_for_function's eval)."""
    end = time.monotonic() + timeout
    while not page.evaluate(js):
        assert time.monotonic() < end, f"not within {timeout} s: {js}"
        page.wait_for_timeout(50)


site, browser = staff_helpers.site, staff_helpers.browser  # the module's fixtures


@pytest.fixture()
def admin_page(site, browser):
    ctx = site.context(browser, site.admin, FULL_HD)
    yield ctx.new_page()
    ctx.close()


def test_indicators_page_and_its_link_speak_english(site, admin_page):
    from centre.indicators import DECISION_766
    from staff import i18n

    page = admin_page
    page.goto(site.url + "/indicators?month=2026-11&lang=en")
    assert page.locator("header nav a[href='/indicators']").inner_text() == "Indicators"
    text = page.inner_text("main").replace("766/QĐ-TTg", "766")  # the decision's number is its name
    assert not VIETNAMESE.findall(text), text[:400]
    assert "Service indicators, 2026-11" in text and "Openness and transparency" in text
    page.goto(site.url + "/indicators?month=2026-11&lang=vi")
    text = page.inner_text("main")
    assert "Chỉ số phục vụ tháng 2026-11" in text and "Công khai, minh bạch" in text
    assert page.locator("header nav a[href='/indicators']").inner_text() == "Chỉ số"
    for key, name, *_ in DECISION_766:  # every group of the core has its name and formula in both languages
        assert i18n.texts("vi")[f"ind_766_{key}"] == name
        assert i18n.texts("en")[f"ind_766_{key}"] and i18n.texts("en")[f"ind_766_{key}_how"]


def test_texts_reach_4_5_to_1(site, admin_page):
    site.qu.issue("A", actor="kiosk", procedure_key=None)
    page = admin_page
    low = {}
    for path in ("/console/1", "/indicators", "/dossiers", "/admin/counters", "/admin/services", "/reports"):
        for lang in ("vi", "en"):
            assert page.goto(f"{site.url}{path}?lang={lang}").status == 200, path
            page.wait_for_timeout(300)  # the console fills itself in from the API
            found = page.evaluate(CONTRAST_JS)
            if found:
                low[f"{path} {lang}"] = found
    assert not low, low


def test_every_form_field_has_a_label(site, admin_page):
    page = admin_page
    missing = {}
    for path in ("/dossiers", "/dossiers/digest", "/dossiers/import", "/indicators", "/console/1", "/account",
                 "/reports", "/admin/users", "/admin/hours", "/admin/catalogue"):
        assert page.goto(f"{site.url}{path}?lang=en").status == 200, path
        page.wait_for_timeout(200)
        found = page.evaluate(UNLABELLED_JS)
        if found:
            missing[path] = found
    assert not missing, missing


def _console_with_called_ticket(site, browser):
    """Counter 1 open with a called, not started ticket, and its console open in English."""
    qu = site.qu
    if qu.counter(1).state != "open":
        qu.set_counter_state(1, "open", actor="test")
    cur = qu.current_ticket(1)
    if cur is not None and cur.state == "serving":
        qu.serve(cur.id, actor="test")
    elif cur is not None:
        qu.no_show(cur.id, actor="test")
    for _ in range(2):
        qu.issue("A", actor="kiosk", procedure_key=None)
    called = qu.call_next(1, actor="test", current="ask")
    ctx = site.context(browser, site.officer, FULL_HD)
    page = ctx.new_page()
    page.goto(site.url + "/console/1?lang=en")
    until(page, "document.getElementById('current-code').textContent !== '—'")
    return ctx, page, called.code


def test_space_on_a_focused_console_button_presses_that_button(site, browser):
    ctx, page, code = _console_with_called_ticket(site, browser)
    try:
        assert page.inner_text("#current-code") == code
        page.focus("#btn-start")
        page.keyboard.press("Space")
        until(page, "document.getElementById('current-state').textContent.startsWith('Being served')")
        assert page.is_hidden("#ask") and page.inner_text("#current-code") == code
        assert site.qu.current_ticket(1).state == "serving"
        # Enter on a focused button works too: "Done" serves the ticket
        page.focus("#btn-serve")
        page.keyboard.press("Enter")
        until(page, "document.getElementById('current-code').textContent === '—'")
        # with nothing focused, Space is still the documented "call next"
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("Space")
        until(page, "document.getElementById('current-code').textContent !== '—'")
    finally:
        ctx.close()


def test_escape_closes_the_not_started_question(site, browser):
    ctx, page, code = _console_with_called_ticket(site, browser)
    try:
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("n")
        page.wait_for_selector("#ask", state="visible", timeout=3000)
        assert page.inner_text("#ask-code") == code
        page.keyboard.press("Escape")
        page.wait_for_selector("#ask", state="hidden", timeout=2000)
        assert page.evaluate("document.activeElement.id") == "btn-next"
        assert site.qu.current_ticket(1).code == code  # nothing was decided about the ticket
    finally:
        ctx.close()


def _focus_ring(page) -> dict:
    return page.evaluate(r"""() => {
      const a = document.activeElement, cs = getComputedStyle(a);
      const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
      const lin = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
      const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
      let el = a.parentElement, bg = [255, 255, 255];
      for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
        if (c.length < 4 || c[3] > 0.5) { bg = c; break; } }
      const x = lum(rgb(cs.outlineColor)), y = lum(bg);
      return {id: a.id || a.tagName, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
              contrast: (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05)};
    }""")


def test_keyboard_focus_is_visible(site, browser):
    ctx, page, _ = _console_with_called_ticket(site, browser)
    try:
        page.evaluate("document.activeElement.blur()")
        rings = []
        for _ in range(12):  # the top bar's links (dark blue) and the console's buttons and lists
            page.keyboard.press("Tab")
            rings.append(_focus_ring(page))
        assert any(r["id"] == "btn-next" for r in rings)
        bad = [r for r in rings if r["style"] != "solid" or r["width"] < 2 or r["contrast"] < 3]
        assert not bad, bad
    finally:
        ctx.close()


SMALL_TARGETS_JS = r"""
() => [...document.querySelectorAll("a, button, input, select, textarea")]
  .filter((e) => e.offsetParent !== null && e.type !== "hidden")
  .map((e) => { const r = e.getBoundingClientRect();
                return [e.tagName, (e.id || e.textContent.trim()).slice(0, 20), Math.round(r.width), Math.round(r.height)]; })
  .filter(([, , w, h]) => w < 44 || h < 44)
"""


def test_touch_pages_have_44_px_targets_on_a_phone(site, browser):
    t = site.qu.issue("B", actor="kiosk", procedure_key=None)
    small = {}
    for user, paths in ((None, ["/login", t.status_path]), (site.officer, ["/rate/1", "/console/1"])):
        ctx = site.context(browser, user, PHONE)
        page = ctx.new_page()
        for path in paths:
            for lang in ("vi", "en"):
                assert page.goto(f"{site.url}{path}?lang={lang}").status == 200, path
                page.wait_for_timeout(300)
                found = page.evaluate(SMALL_TARGETS_JS)
                if found:
                    small[f"{path} {lang}"] = found
        ctx.close()
    assert not small, small


def test_citizen_pages_address_the_citizen_as_ong_ba(site, browser):
    """The kiosk says "Ông/Bà" (kiosk/i18n/vi.yaml); the ticket page and the rating tablet said "bạn"."""
    t = site.qu.issue("B", actor="kiosk", procedure_key=None)
    texts = []
    for user, path in ((None, t.status_path), (site.officer, "/rate/1")):
        ctx = site.context(browser, user, PHONE)
        page = ctx.new_page()
        page.goto(f"{site.url}{path}?lang=vi")
        page.wait_for_timeout(300)
        texts.append(page.title() + "\n" + page.inner_text("body"))
        ctx.close()
    ticket, tablet = texts
    assert "Số của Ông/Bà" in ticket and "Ông/Bà đánh giá" in tablet
    assert not [x for x in texts if re.search(r"\bbạn\b", x, re.IGNORECASE)], texts



def _served_day(site) -> None:
    """Five tickets served at counter 1 with waits and service times in seconds (means that are not whole)."""
    from datetime import timedelta

    from staff_helpers import OPEN_TIME

    qu, clock = site.qu, site.clock
    try:
        issued = []
        for i in range(5):
            clock.set(OPEN_TIME + timedelta(minutes=i * 3))
            issued.append(qu.issue("A", actor="kiosk", procedure_key=None))
        for i, t in enumerate(issued):
            clock.set(OPEN_TIME + timedelta(minutes=17 + i * 7, seconds=13 * i))
            qu.call(t.id, 1, actor="officer:lan", current="no_show")
            clock.set(OPEN_TIME + timedelta(minutes=20 + i * 7, seconds=29 * i))
            qu.start(t.id, actor="officer:lan")
            clock.set(OPEN_TIME + timedelta(minutes=23 + i * 7, seconds=41 * i))
            qu.serve(t.id, actor="officer:lan")
    finally:
        clock.set(OPEN_TIME)


def _cli_report(site, tmp_path) -> dict:
    """`kiosk report --date 2026-11-25 --json` on the server's own database (a config.yaml naming it)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "config.yaml").read_text(encoding="utf-8")
    data = Path(site.cfg.database_path).parent
    text = text.replace('data_dir: "var"', f'data_dir: "{data}"').replace(
        'database: "var/centre.db"', f'database: "{site.cfg.database_path}"')
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(cfg), "report", "--date", "2026-11-25",
                          "--json"], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_report_figures_agree_with_csv_and_cli_in_each_languages_format(site, admin_page, tmp_path):
    import csv
    import io

    _served_day(site)
    page = admin_page
    r = page.request.get(site.url + "/api/reports.csv?start=2026-11-25&end=2026-11-25&lang=en")
    rows = {(x["scope"], x["key"]): x for x in csv.DictReader(io.StringIO(r.text().lstrip("\ufeff")))}
    total = rows[("total", "2026-11-25..2026-11-25")]
    cli = _cli_report(site, tmp_path)["total"]
    fields = ("tickets", "served", "no_show", "cancelled", "transfers", "wait_mean_min", "wait_p90_min",
              "service_mean_min", "service_p90_min")
    for f in fields:  # the download and `kiosk report` say the same
        assert float(total[f]) == float(cli[f]), f
    assert "." in total["wait_mean_min"]  # a figure with decimals, to see how each page writes it
    cells = {}
    for lang in ("vi", "en"):
        page.goto(site.url + f"/reports?start=2026-11-25&end=2026-11-25&lang={lang}")
        cells[lang] = page.locator("table.grid").first.locator("tbody tr").first.locator("td").all_inner_texts()
    shown = dict(zip(fields, cells["en"][:len(fields)], strict=True))
    for f in fields:
        assert float(shown[f]) == float(total[f]), (f, shown[f], total[f])
    # Vietnamese writes a decimal comma: 25,43 (a point there reads as thousands: 25.43 = 2 543)
    assert dict(zip(fields, cells["vi"][:len(fields)], strict=True))["wait_mean_min"] == total["wait_mean_min"].replace(".", ",")
    page.goto(site.url + "/reports/print?month=2026-11")
    assert total["wait_mean_min"].replace(".", ",") in page.inner_text("body")
    page.goto(site.url + "/indicators?month=2026-11&lang=vi")
    nums = page.locator("table.grid").first.locator("td.num").all_inner_texts()
    assert any("," in x for x in nums) and not any(re.search(r"\d\.\d", x) for x in nums), nums


def test_display_clock_in_the_pages_language(site, admin_page):
    page = admin_page
    days = {"en": r"(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \d\d/\d\d/\d{4}", "vi": r"(Thứ \w+|Chủ Nhật), \d\d/\d\d/\d{4}"}
    for lang, pattern in days.items():
        page.goto(f"{site.url}/display?lang={lang}")
        until(page, "document.getElementById('clock').textContent.length > 0")
        clock = page.inner_text("#clock")
        assert re.search(pattern, clock, re.IGNORECASE), (lang, clock)


def test_a_stale_console_action_is_refused_in_the_pages_language(site, browser):
    """Two officers on one ticket: the console missed the update (its live stream cut) and the officer
    marks a ticket no-show that another officer has just served: a 409 said in English whatever the
    page's language ("ticket A001 is served; 'no-show' needs it to be called")."""
    expected = {"vi": "Số này vừa thay đổi", "en": "This ticket has just changed"}
    for lang, words in expected.items():
        ctx, page, code = _console_with_called_ticket(site, browser)
        try:
            page.goto(f"{site.url}/console/1?lang={lang}")
            page.route("**/api/events*", lambda route: route.abort())  # the page hears nothing from now on
            page.reload()
            until(page, f"document.getElementById('current-code').textContent === '{code}'")
            cur = site.qu.current_ticket(1)
            site.qu.start(cur.id, actor="officer:boss")
            site.qu.serve(cur.id, actor="officer:boss")
            page.click("#btn-noshow")
            until(page, "document.getElementById('message').textContent.length > 0")
            assert page.inner_text("#message").startswith(words), page.inner_text("#message")
            assert page.get_attribute("#message", "class").split().count("error") == 1
            until(page, "document.getElementById('current-code').textContent === '—'")  # brought up to date
            assert site.qu.get(cur.id).state == "served"
        finally:
            ctx.close()


def test_rating_tablet_refusals_in_the_pages_language(site, browser):
    from datetime import timedelta

    from staff_helpers import OPEN_TIME

    qu = site.qu
    site.clock.set(OPEN_TIME + timedelta(hours=2))  # served after every other test's ticket: the last one
    try:
        t = qu.issue("A", actor="kiosk", procedure_key=None)
        qu.call(t.id, 1, actor="officer:lan", current="no_show")
        qu.serve(t.id, actor="officer:lan")
    finally:
        site.clock.set(OPEN_TIME)
    ctx = site.context(browser, site.officer, PHONE)
    page = ctx.new_page()
    try:
        for lang, rated, text in (("vi", False, "Cảm ơn Ông/Bà đã đánh giá"), ("vi", True, "Số này đã được đánh giá rồi"),
                                  ("en", True, "This ticket has already been rated")):
            page.goto(f"{site.url}/rate/1?lang={lang}")
            until(page, f"document.getElementById('r-code').textContent === '{t.code}'")
            page.fill("#r-ticket", site.url + t.status_path)
            if not rated:
                page.click("[data-rating='5']")
                page.wait_for_selector("#r-thanks", state="visible")
                assert text in page.inner_text("#r-thanks")
                continue
            # the tablet had shown the ticket before its rating (a second citizen's try): the stars still on
            page.evaluate("document.querySelectorAll('[data-rating]').forEach((b) => { b.disabled = false; })")
            page.click("[data-rating='4']")
            until(page, "document.getElementById('r-error').textContent.length > 0")
            assert page.inner_text("#r-error").startswith(text), page.inner_text("#r-error")
    finally:
        ctx.close()


def test_session_ended_mid_edit_keeps_what_was_typed(site, browser):
    """An administrator edits a service, the session ends (expired, or ended by a password change), Save:
    the page went to the login form and the typed name was lost. Now it stays, says what to do, and after
    a login in another tab the same Save works (with the new session's CSRF token)."""
    from staff_helpers import browser_login

    ctx = site.context(browser, site.admin, FULL_HD)
    page = ctx.new_page()
    try:
        page.goto(f"{site.url}/admin/services?lang=en")
        form = page.locator("form[data-api='/api/admin/services/B']")
        form.locator("input[name=name_en]").fill("Land and housing (renamed)")
        site.conn.execute("DELETE FROM staff_sessions")  # the session ends while the form is being edited
        site.conn.commit()
        form.locator("button[type=submit]").click()
        until(page, "document.getElementById('admin-message').textContent.length > 0")
        assert page.url.endswith("/admin/services?lang=en")
        assert "Your session has ended" in page.inner_text("#admin-message")
        assert form.locator("input[name=name_en]").input_value() == "Land and housing (renamed)"
        other = ctx.new_page()  # log in again in another tab, as the message says
        browser_login(other, site.url, "boss", "/account")
        other.close()
        form.locator("button[type=submit]").click()
        until(page, "document.getElementById('admin-message').textContent.startsWith('Saved')")
        assert site.qu.service("B").name_en == "Land and housing (renamed)"
    finally:
        ctx.close()


def test_session_ended_with_nothing_typed_goes_to_the_login(site, browser):
    ctx, page, _ = _console_with_called_ticket(site, browser)
    try:
        site.conn.execute("DELETE FROM staff_sessions")
        site.conn.commit()
        page.keyboard.press("s")  # Start (a refresh may have found the session gone first: either way, the login)
        page.wait_for_url("**/login?next=%2Fconsole%2F1")
    finally:
        ctx.close()



def test_console_shows_the_red_bar_while_the_server_is_away_and_catches_up(site, browser):
    """docs/staff.md: every page reconnects by itself "showing a red bar meanwhile": the console showed
    nothing (only its small live dot went grey). Back, it rereads the queue (a ticket issued meanwhile)."""
    ctx, page, code = _console_with_called_ticket(site, browser)
    try:
        page.goto(f"{site.url}/console/1?lang=en")
        until(page, f"document.getElementById('current-code').textContent === '{code}'")
        assert page.is_hidden("#offline")
        waiting = int(page.inner_text("#waiting-count"))
        site.handle.stop()  # the server restarts (or the network is cut)
        page.wait_for_selector("#offline", state="visible", timeout=10000)
        assert page.inner_text("#offline") == "Connection lost, reconnecting…"
        site.qu.issue("A", actor="kiosk", procedure_key=None)  # the kiosk's own database goes on meanwhile
        site.start()
        page.wait_for_selector("#offline", state="hidden", timeout=40000)
        until(page, f"Number(document.getElementById('waiting-count').textContent) === {waiting + 1}", timeout=5)
    finally:
        ctx.close()



def test_ticket_page_shows_the_red_bar_while_the_server_is_away(site, browser):
    """The citizen's ticket page had no red bar either: only its 'updated at' time stopped moving."""
    t = site.qu.issue("C", actor="kiosk", procedure_key=None)
    ctx = site.context(browser, None, PHONE)
    page = ctx.new_page()
    try:
        page.goto(f"{site.url}{t.status_path}?lang=vi")
        until(page, f"document.getElementById('t-code').textContent === '{t.code}'")
        page.wait_for_timeout(500)
        assert page.is_hidden("#offline")
        site.handle.stop()
        page.wait_for_selector("#offline", state="visible", timeout=10000)
        assert page.inner_text("#offline") == "Mất kết nối, đang kết nối lại…"
        site.start()
        page.wait_for_selector("#offline", state="hidden", timeout=40000)
    finally:
        ctx.close()


# The provincial hub (a real PostgreSQL cluster and hub process: tests/province_helpers.py)
hub = province_helpers.three_wards  # its module fixture: three wards of data, the province user "tinh"


def test_province_dashboard_sorts_by_keyboard_and_labels_its_field(hub, browser, tmp_path):
    """docs/province.md: "columns sortable by clicking their header" worked with the mouse only (a
    header could not be reached by Tab), and the period field had no label."""
    from province_helpers import PASSWORD, Hub

    _, pg = hub
    server = Hub(pg, tmp_path / "hub.log").start()
    try:
        page = browser.new_page()
        page.goto(f"{server.url}/?period={province_helpers.PERIOD}")
        page.fill("input[name=name]", "tinh")
        page.fill("input[name=password]", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_selector("table#wards")
        assert not page.evaluate(UNLABELLED_JS)

        def tickets():
            return page.eval_on_selector_all("#wards tbody tr", "rs => rs.map(r => parseFloat(r.cells[2].dataset.v))")

        page.focus("input[name=period]")
        for _ in range(12):  # Tab on to the "tickets" header (the third)
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement === document.querySelector('#wards thead th:nth-child(3)')"):
                break
        else:
            raise AssertionError("Tab never reaches the column headers")
        assert _focus_ring(page)["width"] >= 2
        page.keyboard.press("Enter")
        assert tickets() == sorted(tickets())
        assert page.get_attribute("#wards thead th:nth-child(3)", "aria-sort") == "ascending"
        page.keyboard.press(" ")
        assert tickets() == sorted(tickets(), reverse=True) and tickets()[0] > tickets()[-1]
        page.close()
    finally:
        server.stop()

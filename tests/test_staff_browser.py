"""Browser tests in Debian's chromium driven by Playwright (issue 8): an officer logs in and calls
the next ticket, the hall display shows it within 1 s and asks for the announcement, the ticket's
status page follows by itself, the citizen rates. Screenshots go to tests/artifacts/ to be looked at."""

from __future__ import annotations

import io
import time
import wave
from pathlib import Path

import pytest
import staff_helpers
from staff_helpers import CHROMIUM, OPEN_TIME, PASSWORDS
from staff_helpers import browser_login as login

from centre import queue as q
from centre import users
from centre.clock import FixedClock
from centre.db import connect
from staff.server import free_port, start_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="apt install chromium")]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from centre.config import load_config, parse_config

    tmp = tmp_path_factory.mktemp("browser")
    root = Path(__file__).resolve().parent.parent
    text = (root / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp}/var"').replace(
        'database: "var/centre.db"', f'database: "{tmp}/var/centre.db"')
    cfg = parse_config(text, base_dir=root, source=root / "config.yaml")
    assert load_config  # the real TTS (voice.speech, espeak-ng) makes the announcement
    clock = FixedClock(OPEN_TIME)
    handle = start_in_thread(cfg, host="127.0.0.1", port=free_port(), clock=clock)
    conn = connect(cfg.database_path)
    users.create_user(conn, "boss", "admin", PASSWORDS["boss"], full_name="Nguyễn Văn Quản")
    users.create_user(conn, "lan", "officer", PASSWORDS["lan"], counters=[1], full_name="Trần Thị Lan")
    users.create_user(conn, "tv", "display", PASSWORDS["tv"])
    qu = q.Queue(connect(cfg.database_path), cfg, clock)
    tickets = [qu.issue("A", actor="kiosk"), qu.issue("A", actor="kiosk"), qu.issue("D", actor="kiosk"),
               qu.issue("A", priority="elderly", actor="kiosk"), qu.issue("B", actor="kiosk"),
               qu.issue("C", actor="kiosk", lang="en")]
    clock.set(OPEN_TIME.replace(minute=12))
    yield handle, qu, tickets, clock
    handle.stop()


browser = staff_helpers.browser  # the module's Chromium


def test_officer_calls_display_shows_it_and_ticket_page_follows(site, browser, artifacts):
    from playwright.sync_api import expect

    handle, qu, tickets, clock = site
    url = handle.url
    officer = browser.new_context(viewport={"width": 1366, "height": 768})  # a small counter laptop
    tv = browser.new_context(viewport={"width": 1920, "height": 1080})
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        console = officer.new_page()
        login(console, url, "lan", "/console/1")
        expect(console.locator("#waiting-body tr")).to_have_count(3)  # counter 1 serves A: A003 (priority), A001, A002
        expect(console.locator("#waiting-body tr").first).to_contain_text("A003")
        console.screenshot(path=str(artifacts / "staff-console-before.png"))

        display = tv.new_page()
        announced = []
        display.on("response", lambda r: announced.append((r.url, r.status, r.headers.get("content-type")))
                   if "/api/announce.wav" in r.url or "/api/chime.wav" in r.url else None)
        login(display, url, "tv", "/display")
        expect(display.locator(".counter-box")).to_have_count(4)

        status = phone.new_page()
        status.goto(f"{url}/t/{tickets[0].token}")
        expect(status.locator("#t-code")).to_have_text("A001")
        expect(status.locator("#t-ahead")).to_have_text("1")  # the elderly person's ticket is ahead
        status.screenshot(path=str(artifacts / "staff-ticket-waiting.png"), full_page=True)

        # Keyboard shortcut N calls the next ticket: the priority ticket A003.
        console.keyboard.press("n")
        t0 = time.monotonic()
        expect(display.locator('.counter-box[data-counter="1"] .ccode')).to_have_text("A003", timeout=1000)
        shown_after = time.monotonic() - t0
        assert shown_after < 1.0
        expect(console.locator("#current-code")).to_have_text("A003")
        # The ticket page of A001 updates by itself: now nobody is ahead.
        expect(status.locator("#t-ahead")).to_have_text("0", timeout=3000)

        # The citizen came (S), then the next call: A001 is called; its page says where to go, the display
        # announces it. ("next" over a called ticket never marks it served: issue 16.)
        console.keyboard.press("s")
        expect(console.locator("#current-state")).to_contain_text("Đang phục vụ")
        clock.advance(minutes=6)  # A003 was served for 6 minutes
        console.click("#btn-next")
        expect(display.locator('.counter-box[data-counter="1"] .ccode')).to_have_text("A001", timeout=1000)
        expect(status.locator("#t-counter")).to_have_text("Quầy 1", timeout=3000)
        expect(display.locator("#recent li")).to_have_count(2)
        deadline = time.monotonic() + 20
        while not any("code=A001" in u for u, _, _ in announced) and time.monotonic() < deadline:
            display.wait_for_timeout(100)
        # The chime, then the Vietnamese speech synthesised on the server (real espeak-ng), as WAV.
        spoken = [(s, ct) for u, s, ct in announced if "code=A001&counter=1" in u]
        assert len(spoken) == 1 and spoken[0][0] in (200, 206) and spoken[0][1] == "audio/wav", announced
        assert any("/api/chime.wav" in u and s in (200, 206) for u, s, _ in announced)
        wav = display.request.get(f"{url}/api/announce.wav?code=A001&counter=1")
        with wave.open(io.BytesIO(wav.body())) as w:
            assert w.getnframes() / w.getframerate() > 1.0  # real speech, not an empty file
        display.wait_for_timeout(300)
        display.screenshot(path=str(artifacts / "staff-display.png"))
        status.screenshot(path=str(artifacts / "staff-ticket-called.png"), full_page=True)
        console.screenshot(path=str(artifacts / "staff-console-called.png"))

        # Recall, start, serve: the ticket page offers the rating; the citizen gives 5.
        console.keyboard.press("r")
        console.keyboard.press("s")
        expect(console.locator("#current-state")).to_contain_text("Đang phục vụ")
        clock.advance(minutes=9)
        console.keyboard.press("d")
        expect(console.locator("#current-code")).to_have_text("—")
        expect(status.locator("#t-rate")).to_be_visible(timeout=3000)
        status.screenshot(path=str(artifacts / "staff-ticket-rate.png"), full_page=True)
        status.click("button[data-rating='5']")
        expect(status.locator("#t-thanks")).to_be_visible()
        assert qu.conn.execute("SELECT rating FROM ticket_ratings WHERE ticket_id = ?",
                               (tickets[0].id,)).fetchone()[0] == 5
        expect(console.locator("#last-served")).to_contain_text("A001")
        console.reload()  # a rating is not a queue event; the console shows it at its next refresh
        expect(console.locator("#last-served")).to_contain_text("★★★★★")

        # Call a chosen ticket out of order from the waiting list (A002), then finish it.
        clock.advance(minutes=2)
        console.locator("#waiting-body tr", has_text="A002").locator("button").click()
        expect(console.locator("#current-code")).to_have_text("A002")
        expect(display.locator('.counter-box[data-counter="1"] .ccode')).to_have_text("A002", timeout=1000)
        console.keyboard.press("d")
        expect(console.locator("#current-code")).to_have_text("—")

        # Pause from the console: the display dims the counter, calling is refused.
        console.keyboard.press("p")
        expect(console.locator("#counter-state")).to_have_text("Tạm dừng")
        expect(display.locator('.counter-box[data-counter="1"]')).to_contain_class("state-paused", timeout=3000)
        console.wait_for_timeout(1600)  # the same key again within 1.5 s is ignored (issue 16)
        console.keyboard.press("p")
        expect(console.locator("#counter-state")).to_have_text("Đang mở")
    finally:
        officer.close()
        tv.close()
        phone.close()


def test_admin_and_report_pages(site, browser, artifacts):
    from playwright.sync_api import expect

    handle, qu, tickets, clock = site
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        page = ctx.new_page()
        login(page, handle.url, "boss", "/admin/services")
        page.fill("form[data-api='/api/admin/services/B'] input[name=target_wait_min]", "25")
        page.click("form[data-api='/api/admin/services/B'] button[type=submit]")
        expect(page.locator("#admin-message")).to_have_text("Đã lưu.")
        page.wait_for_timeout(1000)  # the page reloads itself 0.7 s after saving
        page.wait_for_load_state("networkidle")
        assert qu.service("B").target_wait_min == 25  # the kiosk's queue sees it at once
        page.screenshot(path=str(artifacts / "staff-admin-services.png"), full_page=True)
        page.goto(f"{handle.url}/admin/counters")
        page.screenshot(path=str(artifacts / "staff-admin-counters.png"), full_page=True)
        page.goto(f"{handle.url}/admin/audit")
        expect(page.locator("table.grid")).to_contain_text("service.update")
        page.screenshot(path=str(artifacts / "staff-admin-audit.png"), full_page=True)
        page.goto(f"{handle.url}/reports?start=2026-11-25")
        page.wait_for_load_state("networkidle")
        for img in page.locator(".charts img").all():
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        page.screenshot(path=str(artifacts / "staff-reports.png"), full_page=True)
        page.goto(f"{handle.url}/reports?start=2026-11-25&lang=en")
        expect(page.locator("h2").first).to_contain_text("Total")
        # The counter's rating tablet offers the last served ticket (A002, not rated yet), once.
        page.goto(f"{handle.url}/rate/1?lang=vi")
        expect(page.locator("#r-code")).to_have_text("A002")
        expect(page.locator("[data-rating='4']")).to_be_disabled()  # only with the citizen's ticket (issue 16)
        page.fill("#r-ticket", f"{handle.url}/t/{tickets[1].token}")  # the QR scanner types the status URL
        expect(page.locator("[data-rating='4']")).to_be_enabled()
        page.screenshot(path=str(artifacts / "staff-rate-tablet.png"))
        page.click("[data-rating='4']")
        expect(page.locator("#r-thanks")).to_be_visible()
        expect(page.locator("[data-rating='4']")).to_be_disabled()
        assert qu.conn.execute("SELECT rating, via FROM ticket_ratings WHERE ticket_id = ?",
                               (tickets[1].id,)).fetchone()[:] == (4, "counter")
        # The OpenAPI page works offline (Swagger UI served from the swagger-ui-bundle package).
        page.goto(f"{handle.url}/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=10000)
        assert page.locator(".opblock").count() > 40
        page.screenshot(path=str(artifacts / "staff-api-docs.png"))
    finally:
        ctx.close()

"""Staff pages in a real browser, as QA found them (issue 8).

- On a phone (the console "works down to one column"): the top bar (centre name, 5 links,
  languages, user, log out) widened the page to ~890 px on a 390 px phone, "Đăng xuất" off screen.
- The hall display's clock and the ticket page's "updated at" used the browser's time zone: a
  TV or phone set to UTC showed 12:37 at 19:37 in Hà Nội.
- A no-show or cancelled ticket's page said only "Vắng mặt" / "Đã huỷ", not what to do now."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from staff_helpers import CHROMIUM, OPEN_TIME, PASSWORDS, browser_login, chromium

from centre import users
from centre.clock import FixedClock
from centre.db import connect
from staff.server import free_port, start_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="apt install chromium")]


def wait_for_text(page, selector: str, min_len: int, timeout: float = 15.0) -> str:
    """Wait until `selector`'s text has `min_len` characters. Polled from the test: the pages'
    CSP forbids eval, which Playwright's wait_for_function needs when it has to poll."""
    deadline = time.monotonic() + timeout
    while True:
        text = page.text_content(selector) or ""
        if len(text) >= min_len or time.monotonic() > deadline:
            assert len(text) >= min_len, f"{selector} still {text!r} after {timeout} s"
            return text
        time.sleep(0.05)


def test_console_and_admin_fit_a_phone(tmp_config, artifacts):
    handle = start_in_thread(tmp_config, host="127.0.0.1", port=free_port(), clock=FixedClock(OPEN_TIME))
    try:
        users.create_user(connect(tmp_config.database_path), "boss", "admin", PASSWORDS["boss"])
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            browser_login(page, handle.url, "boss", "/console/1")
            for path in ("/console/1", "/admin/services", "/reports"):
                page.goto(handle.url + path)
                page.wait_for_load_state("networkidle")
                width = page.evaluate("document.documentElement.scrollWidth")
                if path == "/console/1":
                    page.screenshot(path=str(artifacts / "staff-console-phone.png"), full_page=True)
                    assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
                    logout = page.get_by_role("button", name="Đăng xuất").bounding_box()
                    assert logout and logout["x"] + logout["width"] <= 390
                    card = page.locator("section.current").bounding_box()
                    for sel in page.locator("section.current select").all():
                        box = sel.bounding_box()
                        assert box["x"] + box["width"] <= card["x"] + card["width"], "a select sticks out of its card"
    finally:
        handle.stop()


def test_display_clock_and_ticket_page_use_the_centre_time_zone(tmp_config):
    from centre.queue import Queue

    handle = start_in_thread(tmp_config, host="127.0.0.1", port=free_port())
    try:
        conn = connect(tmp_config.database_path)
        users.create_user(conn, "tv", "display", PASSWORDS["tv"])
        ticket = Queue(conn, tmp_config).issue("A", actor="kiosk", ignore_hours=True)
        with chromium() as browser:
            ctx = browser.new_context(timezone_id="America/New_York")  # a browser set to another zone
            page = ctx.new_page()
            page.goto(f"{handle.url}{ticket.status_path}")
            wait_for_text(page, "#t-updated", 1)
            updated = page.inner_text("#t-updated")
            browser_login(page, handle.url, "tv", "/display")
            wait_for_text(page, "#clock", 1)
            clock = page.inner_text("#clock")
        now = datetime.now(ZoneInfo(tmp_config.centre.timezone))
        hours = {(now + timedelta(minutes=m)).strftime("%H:%M") for m in (-1, 0, 1)}
        assert clock[:5] in hours, clock
        assert updated[:5] in hours, updated
    finally:
        handle.stop()


def test_ticket_page_of_a_no_show_says_what_to_do(tmp_config):
    from centre.queue import Queue

    handle = start_in_thread(tmp_config, host="127.0.0.1", port=free_port())
    try:
        qu = Queue(connect(tmp_config.database_path), tmp_config)
        gone, waiting = qu.issue("A", actor="kiosk", ignore_hours=True), qu.issue("A", actor="kiosk", ignore_hours=True)
        qu.call(gone, 1, actor="o")
        qu.no_show(gone, actor="o")
        with chromium() as browser:
            page = browser.new_page()
            shown = {}
            for t in (gone, waiting):
                page.goto(f"{handle.url}{t.status_path}")
                wait_for_text(page, "#t-code", 2)
                shown[t.code] = page.is_visible("#t-ended")
                text = page.inner_text("#ticket")
                if t is gone:
                    assert "Vắng mặt" in text and "mời Ông/Bà lấy số mới ở ki-ốt" in text
        assert shown == {gone.code: True, waiting.code: False}
    finally:
        handle.stop()

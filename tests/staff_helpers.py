"""Shared set-up of the staff server tests: a centre with one user per role and fresh sessions."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from centre import users
from centre.clock import FixedClock
from centre.db import connect
from staff import auth
from staff.app import create_app

CHROMIUM = Path("/usr/bin/chromium")  # Debian's browser: Playwright never downloads one
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]


@contextmanager
def chromium():
    """Debian's Chromium driven by Playwright, closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


# A Wednesday at 09:00 in Hà Nội time: every service is open.
OPEN_TIME = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
PASSWORDS = {"boss": "admin-pass-1", "lan": "officer-pass-1", "minh": "officer-pass-3", "tv": "display-pass-1",
             "kiosk2": "kiosk-pass-12"}


class Centre:
    """An app on a real SQLite file, its users and helpers to act as each of them."""

    def __init__(self, cfg, db_path, clock=None, synthesize=None):
        from staff.announce import Announcer

        self.cfg = cfg
        self.db_path = db_path
        self.clock = clock or FixedClock(OPEN_TIME)
        self.app = create_app(cfg, db_path=db_path, clock=self.clock,
                              announcer=Announcer(cfg, synthesize) if synthesize else None)
        self.conn = connect(db_path)
        c = self.conn
        self.users = {
            "admin": users.create_user(c, "boss", "admin", PASSWORDS["boss"]),
            "officer": users.create_user(c, "lan", "officer", PASSWORDS["lan"], counters=[1]),
            "officer3": users.create_user(c, "minh", "officer", PASSWORDS["minh"], counters=[3]),
            "display": users.create_user(c, "tv", "display", PASSWORDS["tv"]),
            "kiosk": users.create_user(c, "kiosk2", "kiosk", PASSWORDS["kiosk2"]),
        }
        self.kiosk_token = users.create_api_token(c, self.users["kiosk"].id, "test")

    def client(self, role: str | None = None, **kw) -> TestClient:
        """A TestClient logged in as `role` through a fresh session (no scrypt: quick), or anonymous."""
        cl = TestClient(self.app, **kw)
        cl.csrf = ""
        if role == "kiosk":
            cl.headers["Authorization"] = f"Bearer {self.kiosk_token}"
        elif role is not None:
            token, sess = users.create_session(self.conn, self.users[role], hours=1)
            cl.cookies.set(auth.SESSION_COOKIE, token)
            cl.csrf = sess.csrf
            cl.headers["X-CSRF-Token"] = sess.csrf
        return cl

    def queue(self):
        from centre.queue import Queue

        return Queue(connect(self.db_path), self.cfg, self.clock)


def browser_login(page, url: str, name: str, next_path: str) -> None:
    """Sign `name` in through the real login form of the staff server at `url` (Playwright page)."""
    page.goto(f"{url}/login?next={next_path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{next_path}")

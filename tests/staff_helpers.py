"""Shared set-up of the staff server tests: a centre with one user per role and fresh sessions;
for the browser tests a served staff server (`Site`), Chromium, and their module fixtures
(`site`, `browser`: a module takes them with `site = staff_helpers.site`)."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from centre import queue as q
from centre import users
from centre.catalogue_import import import_catalogue
from centre.clock import FixedClock
from centre.config import parse_config
from centre.db import connect
from staff import auth
from staff.app import create_app
from staff.server import free_port, start_in_thread

PHONE = {"width": 390, "height": 844}
FULL_HD = {"width": 1920, "height": 1080}
UHD = {"width": 3840, "height": 2160}
# Letters only Vietnamese uses (English text has none of them).
VIETNAMESE = re.compile(r"[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.I)
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


class Site:
    """A staff server on the shipped config.yaml (data in `tmp`, speech off) served on a free port,
    with an admin and an officer of counter 1, a queue and the shipped catalogue imported."""

    def __init__(self, tmp: Path):
        root = Path(__file__).resolve().parent.parent
        text = (root / "config.yaml").read_text(encoding="utf-8")
        text = text.replace('data_dir: "var"', f'data_dir: "{tmp}/var"').replace(
            'database: "var/centre.db"', f'database: "{tmp}/var/centre.db"')
        self.cfg = parse_config(text, base_dir=root, source=root / "config.yaml")
        self.cfg = self.cfg.model_copy(update={"speech": self.cfg.speech.model_copy(update={"enabled": False})})
        self.clock = FixedClock(OPEN_TIME)
        self.port = free_port()
        self.start()
        self.conn = connect(self.cfg.database_path)
        self.admin = users.create_user(self.conn, "boss", "admin", PASSWORDS["boss"], full_name="Nguyễn Văn Quản")
        self.officer = users.create_user(self.conn, "lan", "officer", PASSWORDS["lan"], counters=[1])
        self.qu = q.Queue(connect(self.cfg.database_path), self.cfg, self.clock)
        import_catalogue(self.conn, self.cfg.path(self.cfg.paths.catalogue))

    def start(self):
        self.handle = start_in_thread(self.cfg, host="127.0.0.1", port=self.port, clock=self.clock)
        self.url = self.handle.url

    def context(self, browser, user, viewport):
        ctx = browser.new_context(viewport=viewport)
        if user is not None:
            token, _ = users.create_session(self.conn, user, hours=2)
            ctx.add_cookies([{"name": auth.SESSION_COOKIE, "value": token, "url": self.url}])
        return ctx


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One served staff server (Site) for a module."""
    s = Site(tmp_path_factory.mktemp("site"))
    yield s
    s.handle.stop()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for a module."""
    with chromium() as b:
        yield b

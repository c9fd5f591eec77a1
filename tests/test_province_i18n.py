"""Round 12: the hub's pages in Vietnamese and English (province/i18n, chosen as the staff pages
choose: ?lang=, the `lang` cookie, else Vietnamese), its 404/405 answers, and a synced batch
with a key given twice. Fast tests render every template without a database; the rest (slow)
run the hub on the test PostgreSQL cluster (tests/province_helpers.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import pytest
from staff_helpers import VIETNAMESE  # (the Decision's official name "QĐ-TTg" is taken out first)

from centre.indicators import DECISION_766, Stats, decision_766, indicators
from province import i18n, queries, report
from province.app import _env
from province.users import HubSession, HubUser

TEMPLATES = Path(__file__).resolve().parent.parent / "province" / "templates"
PERIOD = queries.Period(date(2026, 10, 1), date(2026, 11, 1), "2026-10", "month")


def _keys_used() -> set[str]:
    """Every text key the hub's templates and code ask for."""
    keys = set()
    for path in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r"\bt\('([a-z0-9_]+)'[,)]", path.read_text(encoding="utf-8")))
    keys |= {f"d766_{k}" for k, *_ in DECISION_766} | {f"d766_{k}_how" for k, *_ in DECISION_766}
    keys |= {f"line_{k}" for k, _, _ in report.LINES}
    keys |= {"total_province", "total_scope", "spark_points", "bad_period", "report_file_title", "login_locked",
             "login_bad", "password_locked", "password_wrong", "password_not_changed", "d766_rate_pct"}
    keys |= {f"{k}_{part}" for k in ("forbidden", "csrf", "not_found", "method_not_allowed", "no_such_ward")
             for part in ("title", "text")}
    keys |= {f"err_password_{k}" for k in ("short", "has_name", "simple", "digits", "common", "same", "mismatch")}
    return keys


def test_every_text_the_hub_uses_is_written_in_vietnamese_and_english():
    vi, en = i18n.texts("vi"), i18n.texts("en")
    assert set(vi) == set(en), set(vi) ^ set(en)
    missing = _keys_used() - set(vi)
    assert not missing, missing
    assert all(v.strip() for v in (*vi.values(), *en.values()))
    assert not [k for k, v in en.items() if VIETNAMESE.search(v.replace("QĐ-TTg", ""))]


def test_no_template_says_anything_outside_the_texts():
    for path in TEMPLATES.glob("*.html"):
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", path.read_text(encoding="utf-8"), flags=re.S)
        assert not VIETNAMESE.search(text), (path.name, VIETNAMESE.findall(text))


def _pages(lang: str) -> dict[str, str]:
    """Every template of the hub rendered in `lang` with made-up data (names in ASCII)."""
    env = _env()
    ind = indicators(Stats())
    user = HubUser(1, "tinh", "ward", ("w1", "w2"))
    sess = HubSession(user, "csrf", datetime(2026, 12, 8, 9, 0, tzinfo=UTC))
    common = {"lang": lang, "t": partial(i18n.t, lang), "lang_url": lambda code: f"/?lang={code}"}
    rep = {"period": PERIOD, "ward": None, "wards": [{"centre_id": "w1", "name": "Ward One"}],
           "per_ward": {"w1": ind}, "total": ind, "decision_766": decision_766(ind), "lines": report.LINES,
           "total_label": queries.TOTAL_PROVINCE, "total_key": "total_province"}
    centre = {"centre_id": "w1", "name": "Ward One", "last_seen": None, "events": 0, "duplicates": 0}
    contexts = {
        "dashboard.html": {"period": PERIOD, "rows": [{"centre_id": "w1", "name": "Ward One", "ind": ind,
                                                       "spark_tickets": queries.sparkline([1, 2], label="x")}],
                           "province": ind, "decision_766": decision_766(ind), "total_key": "total_scope"},
        "ward.html": {"centre": centre, "period": PERIOD, "ind": ind, "decision_766": decision_766(ind),
                      "days": [{"day": date(2026, 10, 5), "ind": ind}], "spark_tickets": ""},
        "report.html": {"rep": rep},
        "report_ward.html": {"rep": {**rep, "ward": centre}},
        "login.html": {"csrf": "x", "next": "/", "no_users": True, "error": None, "sess": None},
        "account.html": {"error": None},
        "message.html": {"title": "T", "text": "X"},
    }
    return {name: env.get_template(name.replace("_ward", "")).render(**common, **{"sess": sess, **ctx})
            for name, ctx in contexts.items()}


def test_every_page_is_complete_in_english_and_vietnamese_stays_the_default():
    for name, html in _pages("en").items():
        assert 'lang="en"' in html, name
        assert not VIETNAMESE.search(html.replace("QĐ-TTg", "")), (name, VIETNAMESE.findall(html)[:10])
    vi = _pages("vi")
    assert "Toàn tỉnh" in vi["report.html"] and "Tổng các phường, xã được giao" in vi["dashboard.html"]
    assert "Đăng nhập" in vi["login.html"] and "Đổi mật khẩu" in vi["account.html"] and 'lang="vi"' in vi["login.html"]
    assert 'href="/?lang=en"' in vi["dashboard.html"] and 'href="/?lang=vi"' in vi["dashboard.html"]


def test_the_report_files_and_the_sparkline_follow_the_language():
    ind = indicators(Stats())
    rep = {"period": PERIOD, "ward": None, "wards": [{"centre_id": "w1", "name": "Ward One"}],
           "per_ward": {"w1": ind}, "total": ind, "decision_766": decision_766(ind), "lines": report.LINES,
           "total_label": queries.TOTAL_PROVINCE, "total_key": "total_province"}
    en = list(csv.reader(io.StringIO(report.to_csv(rep, "en").decode("utf-8-sig"))))
    assert en[0] == ["Monthly report 2026-10"] and en[1][0] == "Ward" and en[-1][0] == "Whole province"
    assert not VIETNAMESE.search(json.dumps(en, ensure_ascii=False))
    vi = list(csv.reader(io.StringIO(report.to_csv(rep).decode("utf-8-sig"))))
    assert vi[0] == ["Báo cáo tháng 2026-10"] and vi[-1][0] == "Toàn tỉnh" and "Số lượt lấy số" in vi[1]
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(report.to_xlsx(rep, "en")))
    cells = [c.value for ws in book for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert "Indicator group (Decision 766/QĐ-TTg)" in cells
    assert not [c for c in cells if VIETNAMESE.search(c.replace("QĐ-TTg", ""))]
    assert 'aria-label="3 days"' in queries.sparkline([1, 2, 3], label=i18n.t("en", "spark_points"))
    assert 'aria-label="3 ngày"' in queries.sparkline([1, 2, 3])


# -- the hub on PostgreSQL -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub():
    import psycopg
    from fastapi.testclient import TestClient
    from province_helpers import add_user, new_database

    from province.app import create_app
    from province.auth import add_centre
    from province.db import migrate

    pg = new_database()
    migrate(pg)
    with psycopg.connect(pg, autocommit=True) as c:
        token = add_centre(c, "w1", "Phường Số 1")
    add_user(pg, "tinh")
    app = create_app(pg, migrate_db=False)
    with TestClient(app, base_url="http://hub.test"):
        yield app, pg, token


def _client(app):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://hub.test")


@pytest.mark.slow
def test_the_language_switch_is_remembered_and_every_page_follows_it(hub):
    from province_helpers import login

    app, _, _ = hub
    c = _client(app)
    page = c.get("/login")
    assert 'lang="vi"' in page.text and "Đăng nhập" in page.text and "lang" not in c.cookies
    page = c.get("/login?next=%2Fward%2Fw1&lang=en")
    assert 'lang="en"' in page.text and "Log in" in page.text and c.cookies["lang"] == "en"
    assert 'href="/login?next=%2Fward%2Fw1&amp;lang=vi"' in page.text  # the switch keeps the page's query
    assert login(c, "tinh").status_code == 303
    for path in ("/?period=2026-10", "/ward/w1?period=2026-10", "/report?period=2026-10", "/account"):
        r = c.get(path)
        assert r.status_code == 200 and 'lang="en"' in r.text, path
        assert not VIETNAMESE.search(r.text.replace("QĐ-TTg", "").replace("Phường Số 1", "")), (path, r.text[:300])
    csv_en = c.get("/report?period=2026-10&format=csv").content.decode("utf-8-sig")
    assert csv_en.startswith("Monthly report 2026-10") and "Whole province" in csv_en
    r = c.get("/?period=2026-13")
    assert r.status_code == 422 and r.text.startswith("The period 2026-13 cannot be read")
    r = c.get("/ward/nowhere?period=2026-10", headers={"accept": "text/html"})
    assert r.status_code == 404 and "No such ward" in r.text
    assert 'lang="vi"' in c.get("/?lang=vi").text and "Bảng tổng hợp" in c.get("/").text  # back to Vietnamese


@pytest.mark.slow
@pytest.mark.parametrize("lang, title", [("vi", "Không tìm thấy"), ("en", "Not found")])
def test_an_unknown_path_is_a_page_for_a_browser_and_the_hubs_json_error_otherwise(hub, lang, title):
    app, _, _ = hub
    c = _client(app)
    r = c.get(f"/no-such-page?lang={lang}", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html") and title in r.text
    assert r.headers["content-security-policy"] and r.headers["cache-control"] == "no-store"
    for path in ("/no-such-page", "/api/v1/no-such-thing"):
        r = c.get(path, headers={"accept": "text/html" if path.startswith("/api/") else "application/json"})
        assert r.status_code == 404 and r.json() == {"detail": "nothing is served at this path"}, r.text
    r = c.get("/api/v1/ingest")
    assert r.status_code == 405 and r.json() == {"detail": "this path does not take this method"}
    assert r.headers["allow"] == "POST"
    r = c.delete("/login", headers={"accept": "text/html"})
    assert r.status_code == 405 and "<h1>" in r.text and r.headers["allow"]


@pytest.mark.slow
@pytest.mark.parametrize("body", [
    '{"centre": "w1", "centre": "w1", "events": []}',
    '{"centre": "w1", "events": [{"uid": "%s", "seq": 1, "kind": "ticket", "at": 1.0, "seq": 2, "data": {}}]}',
    '{"centre": "w1", "events": [{"uid": "%s", "seq": 1, "kind": "ticket", "at": 1.0, "data": {"a": 1, "a": 2}}]}',
])
def test_a_synced_batch_with_a_key_given_twice_is_refused_and_stores_nothing(hub, body):
    """json.loads took the last of duplicate keys (`{"id": 1, "id": 2}` stored 2, where the ward or
    a log may read 1): the hub now refuses the batch (400, the hub's {"detail"}) and stores nothing."""
    import gzip
    import uuid

    import psycopg

    app, pg, token = hub
    uid = uuid.uuid4().hex
    raw = (body % uid if "%s" in body else body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for content, extra in ((raw, {}), (gzip.compress(raw), {"Content-Encoding": "gzip"})):
        r = _client(app).post("/api/v1/ingest", content=content, headers={**headers, **extra})
        assert r.status_code == 400, r.text
        assert r.json() == {"detail": "body is not plain JSON: a key appears twice in one JSON object"}
    with psycopg.connect(pg) as c:
        assert c.execute("SELECT count(*) FROM events WHERE uid = %s", (uuid.UUID(uid),)).fetchone()[0] == 0
    ok = json.dumps({"centre": "w1", "events": []}).encode()
    assert _client(app).post("/api/v1/ingest", content=ok, headers=headers).status_code == 200


def test_numbers_are_written_as_the_pages_language_writes_them():
    ind = {**indicators(Stats()), "tickets": 1234, "wait_mean_min": 12.5, "satisfied_share": 0.875}
    env = _env()
    page = env.from_string("{% from '_cells.html' import cells with context %}{{ cells(i) }} {{ 0.5|pct }} {{ 2.5|num }}")
    vi = page.render(i=ind, lang="vi", t=partial(i18n.t, "vi"))
    en = page.render(i=ind, lang="en", t=partial(i18n.t, "en"))
    assert ">1 234<" in vi and ">12,5<" in vi and ">87,5 %<" in vi and vi.endswith("50,0 % 2,5")
    assert ">1,234<" in en and ">12.5<" in en and ">87.5%<" in en and en.endswith("50.0% 2.5")


@pytest.mark.slow
def test_in_chromium_the_en_link_switches_every_page_and_vi_switches_back(hub, tmp_path):
    """The VI/EN links of a real hub process, under its CSP: the choice follows the officer from
    page to page (the cookie) and through the login."""
    from province_helpers import PASSWORD, Hub
    from staff_helpers import CHROMIUM, chromium

    if not CHROMIUM.exists():
        pytest.skip("apt install chromium")
    _, pg, _ = hub
    server = Hub(pg, tmp_path / "hub.log").start()
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{server.url}/?period=2026-10")
            assert "/login" in page.url and page.get_attribute("html", "lang") == "vi"
            page.click("a[lang=en]")
            assert page.get_attribute("html", "lang") == "en" and page.inner_text("h1") == "Log in"
            page.fill("input[name=name]", "tinh")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("table#wards")
            assert page.url.endswith("/?period=2026-10") and page.get_attribute("html", "lang") == "en"
            assert page.inner_text("h1") == "Service to citizens in the wards — 2026-10"
            page.click("nav a[href='/report']")
            assert page.get_attribute("html", "lang") == "en" and "Download CSV" in page.inner_text("body")
            page.click("a[lang=vi]")
            assert page.get_attribute("html", "lang") == "vi" and "Tải CSV" in page.inner_text("body")
            page.goto(f"{server.url}/account")
            assert page.inner_text("h2") == "Đổi mật khẩu"
    finally:
        server.stop()

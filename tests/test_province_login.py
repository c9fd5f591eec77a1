"""Province office logins on the hub (issue 17): nobody reads a ward's figures without an account;
a ward director sees only their wards; sessions, CSRF, lockout, logout and headers."""

from __future__ import annotations

import re

import province_helpers
import psycopg
import pytest
from fastapi.testclient import TestClient
from province_helpers import PASSWORD, login

from province import users
from province.app import create_app
from province.auth import add_centre

pytestmark = pytest.mark.slow
PERIOD = province_helpers.PERIOD
PAGES = ["/", f"/?period={PERIOD}", f"/ward/w1?period={PERIOD}", f"/report?period={PERIOD}",
         f"/report?period={PERIOD}&ward=w2", "/account"]
DATA = [f"/api/v1/wards?period={PERIOD}", f"/report?period={PERIOD}&format=csv",
        f"/report?period={PERIOD}&ward=w1&format=xlsx"]


hub = province_helpers.three_wards  # one hub, three wards of data, "tinh" and the director "chu-tich-w12"


def _client(app) -> TestClient:
    return TestClient(app, base_url="http://hub.test")


def test_anonymous_gets_the_login_page_or_401_and_the_ingest_is_unchanged(hub):
    app, pg = hub
    anon = _client(app)
    for path in PAGES:
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2F"), path
    for path in DATA:
        r = anon.get(path)
        assert r.status_code == 401 and "Phường" not in r.text, path
    page = anon.get("/", follow_redirects=True)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Đăng nhập" in page.text and "Phường Số 1" not in page.text and 'name="csrf_token"' in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(";")[1]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # the CSP allows the hub's own script file only
    assert anon.get("/static/hub.js").status_code == 200
    assert anon.get("/healthz").status_code == 200 and anon.get("/docs").status_code == 404
    assert "Chưa có tài khoản nào" not in page.text
    from province_helpers import new_database

    empty = create_app(new_database())       # a new hub says how to create the first user
    with TestClient(empty) as fresh:
        assert "kiosk province add-user" in fresh.get("/", follow_redirects=True).text
    # centres still use their token, not a login
    with psycopg.connect(pg, autocommit=True) as c:
        token = add_centre(c, "w1", "")
    assert anon.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["centre_id"] == "w1"
    assert anon.post("/api/v1/ingest", json={"centre": "w1", "events": []}).status_code == 401


def test_a_province_user_sees_every_ward(hub):
    app, _ = hub
    c = _client(app)
    r = login(c, "tinh", next=f"/?period={PERIOD}")
    assert r.status_code == 303 and r.headers["location"] == f"/?period={PERIOD}"
    cookie = r.headers["set-cookie"]
    assert "province_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "SameSite=Strict", "SameSite=strict") and "Max-Age=28800" in cookie
    page = c.get(f"/?period={PERIOD}")
    assert page.status_code == 200 and all(f"Phường Số {i}" in page.text for i in (1, 2, 3))
    assert "Toàn tỉnh" in page.text and "Đăng xuất" in page.text
    wards = c.get(f"/api/v1/wards?period={PERIOD}").json()
    assert [w["centre_id"] for w in wards["wards"]] == ["w1", "w2", "w3"] and wards["scope"] == "Toàn tỉnh"
    assert wards["province"]["tickets"] == sum(w["tickets"] for w in wards["wards"]) > 0
    for path in (*PAGES, *DATA, f"/ward/w3?period={PERIOD}"):
        assert c.get(path).status_code == 200, path
    assert "Toàn tỉnh" in c.get(f"/report?period={PERIOD}&format=csv").content.decode("utf-8-sig")


def test_a_ward_user_sees_only_their_wards(hub):
    app, _ = hub
    c = _client(app)
    assert login(c, "chu-tich-w12").status_code == 303
    page = c.get(f"/?period={PERIOD}")
    assert page.status_code == 200 and "Phường Số 1" in page.text and "Phường Số 2" in page.text
    assert "Phường Số 3" not in page.text and "Toàn tỉnh" not in page.text and "được giao" in page.text
    data = c.get(f"/api/v1/wards?period={PERIOD}").json()
    assert [w["centre_id"] for w in data["wards"]] == ["w1", "w2"]
    assert data["province"]["tickets"] == sum(w["tickets"] for w in data["wards"]) > 0  # the total of their wards
    for ok in (f"/ward/w1?period={PERIOD}", f"/ward/w2?period={PERIOD}", f"/report?period={PERIOD}&ward=w2",
               f"/report?period={PERIOD}&ward=w1&format=xlsx"):
        assert c.get(ok).status_code == 200, ok
    for other in (f"/ward/w3?period={PERIOD}", f"/report?period={PERIOD}&ward=w3", "/ward/nowhere"):
        r = c.get(other)
        assert r.status_code == 403 and "Phường Số 3" not in r.text, other
    for other in (f"/report?period={PERIOD}&ward=w3&format=csv", f"/report?period={PERIOD}&ward=w3&format=xlsx"):
        assert c.get(other).status_code == 403 and c.get(other).headers["content-type"] == "application/json"
    rep = c.get(f"/report?period={PERIOD}&format=csv").content.decode("utf-8-sig")
    assert "Phường Số 1" in rep and "Phường Số 3" not in rep and "Tổng các phường, xã được giao" in rep


def test_bad_password_lockout_and_logout(hub):
    app, pg = hub
    with psycopg.connect(pg, autocommit=True) as conn:
        users.create_user(conn, "khoa", "ward", PASSWORD, centres=["w3"])
    c = _client(app)
    r = login(c, "khoa", "Wrong-password-1")
    assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in r.text and "province_session" not in str(
        r.headers.get("set-cookie"))
    assert login(c, "nobody-here", "Wrong-password-1").status_code == 401  # same answer for an unknown name
    # a login form without its CSRF token is refused before the password is checked
    r = c.post("/login", data={"name": "khoa", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    # three failures in the window lock the name from this address, even with the right password
    assert login(c, "khoa", "Wrong-password-2").status_code == 401
    assert login(c, "khoa", "Wrong-password-3").status_code == 401
    locked = login(c, "khoa", PASSWORD)
    assert locked.status_code == 429 and "thử lại sau" in locked.text
    with psycopg.connect(pg, autocommit=True) as conn:
        assert users.lock_remaining(conn, "khoa", "testclient", max_tries=3, lockout_s=60) > 50
        assert users.lock_remaining(conn, "khoa", "10.0.0.9", max_tries=3, lockout_s=60) == 0  # not elsewhere
        conn.execute("UPDATE hub_login_attempts SET at = at - interval '2 minutes' WHERE name = 'khoa'")
    # after the window: the right password works; the session is the ward's; logout needs the CSRF token
    assert login(c, "khoa").status_code == 303
    page = c.get("/")
    assert "Phường Số 3" in page.text and "Phường Số 1" not in page.text
    csrf = re.search(r'action="/logout".*?name="csrf_token" value="([^"]+)"', page.text, re.S).group(1)
    assert c.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    assert c.get("/").status_code == 200  # still logged in
    cookie = c.cookies.get("province_session")
    r = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/", follow_redirects=False).status_code == 303
    r = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)  # twice: just the login page
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # the old cookie is dead on the server too (not only deleted in this browser)
    again = _client(app)
    again.cookies.set("province_session", cookie, domain="hub.test")
    assert again.get("/api/v1/wards").status_code == 401
    with psycopg.connect(pg, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM hub_sessions s JOIN hub_users u ON u.id = s.user_id "
                            "WHERE u.name = 'khoa'").fetchone()[0] == 0


def test_sessions_expire_passwords_change_and_users_are_checked(hub):
    app, pg = hub
    with psycopg.connect(pg, autocommit=True) as conn:
        for bad, why in ((("x", "province", PASSWORD, ()), "user name"), (("an", "ward", PASSWORD, ()), "at least one"),
                         (("an", "ward", PASSWORD, ("w9",)), "not registered"),
                         (("an", "province", "123456789012", ()), "digits"), (("an", "province", "short", ()), "10"),
                         (("tinh", "province", PASSWORD, ()), "already exists")):
            with pytest.raises(users.UserError, match=why):
                users.create_user(conn, *bad[:3], centres=bad[3])
        u = users.create_user(conn, "binh", "province", PASSWORD)
    c = _client(app)
    assert login(c, "binh").status_code == 303
    acc = c.get("/account")
    csrf = re.search(r'action="/account/password".*?name="csrf_token" value="([^"]+)"', acc.text, re.S).group(1)
    r = c.post("/account/password", data={"old": "nope-nope-nope", "new": "Ha-Long-Bay-77", "repeat": "Ha-Long-Bay-77",
                                          "csrf_token": csrf})
    assert r.status_code == 422 and "không đúng" in r.text
    r = c.post("/account/password", data={"old": PASSWORD, "new": "Ha-Long-Bay-77", "repeat": "Ha-Long-Bay-77",
                                          "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and c.get("/", follow_redirects=False).status_code == 303  # sessions ended
    assert login(c, "binh").status_code == 401 and login(c, "binh", "Ha-Long-Bay-77").status_code == 303
    with psycopg.connect(pg, autocommit=True) as conn:   # an expired session is refused
        conn.execute("UPDATE hub_sessions SET expires_at = now() - interval '1 second' WHERE user_id = %s", (u.id,))
    assert c.get("/api/v1/wards").status_code == 401
    assert login(c, "binh", "Ha-Long-Bay-77").status_code == 303
    with psycopg.connect(pg, autocommit=True) as conn:   # a disabled user is logged out at once
        users.set_active(conn, "binh", False)
    assert c.get("/api/v1/wards").status_code == 401
    assert login(c, "binh", "Ha-Long-Bay-77").status_code == 401


@pytest.mark.skipif(not __import__("os").path.exists("/usr/bin/chromium"), reason="apt install chromium")
def test_in_chromium_login_sorting_and_print_work_under_the_csp(hub, tmp_path):
    """The CSP forbids inline script: the login form, the table sorting (/static/hub.js) and the
    print button must still work in a real browser, with no CSP violation, over a real hub process."""
    from playwright.sync_api import sync_playwright
    from province_helpers import Hub

    app, pg = hub
    server = Hub(pg, tmp_path / "hub.log").start()
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                  args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = b.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.url}/?period={PERIOD}")
            assert "/login" in page.url
            page.fill("input[name=name]", "tinh")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("table#wards")
            assert page.url.endswith(f"/?period={PERIOD}")
            tickets = lambda: page.eval_on_selector_all(  # noqa: E731
                "#wards tbody tr", "rs => rs.map(r => parseFloat(r.cells[2].dataset.v))")
            page.click("#wards thead th:nth-child(3)")
            assert tickets() == sorted(tickets())
            page.click("#wards thead th:nth-child(3)")
            assert tickets() == sorted(tickets(), reverse=True) and tickets()[0] > tickets()[-1]
            page.goto(f"{server.url}/report?period={PERIOD}")
            page.evaluate("window.print = () => { window.printed = true; }")
            page.click("a[data-print]")
            assert page.evaluate("window.printed === true")
            page.click("nav button")  # logout
            page.wait_for_url("**/login")
            b.close()
    finally:
        server.stop()
    assert not [e for e in errors if "Content Security Policy" in e], errors

"""The staff server's API on the real app and a real SQLite file (issue 8).

Every route × every role × anonymous; CSRF; login lockout; a display user cannot call;
the counter flow from a kiosk's ticket to the rating; admin changes audited and seen by a
kiosk without a restart; reports over HTTP.
"""

from __future__ import annotations

import re
import warnings

import pytest
from staff_helpers import PASSWORDS, Centre

from centre import audit
from staff.app import route_table

warnings.filterwarnings("ignore", message=".*httpx2.*")

ROLES = ["admin", "officer", "display", "kiosk"]
ADM, OFF, DSP, KIO = "admin", "officer", "display", "kiosk"
PUBLIC = "public"

# (method, path) -> roles allowed (PUBLIC: anyone). Written by hand from the issue, not derived
# from the code, so a route that checks the wrong roles fails here.
ACCESS = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): {ADM, OFF, DSP, KIO},
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/t/{token}"): PUBLIC,
    ("GET", "/account"): {ADM, OFF, DSP},
    ("POST", "/account/password"): {ADM, OFF, DSP},
    ("GET", "/console"): {ADM, OFF},
    ("GET", "/console/{counter_id}"): {ADM, OFF},
    ("GET", "/rate/{counter_id}"): {ADM, OFF},
    ("GET", "/display"): {ADM, OFF, DSP},
    ("GET", "/admin"): {ADM},
    ("GET", "/admin/{section}"): {ADM},
    ("GET", "/reports"): {ADM},
    ("GET", "/reports/print"): {ADM},
    ("GET", "/api/me"): {ADM, OFF, DSP, KIO},
    ("GET", "/api/services"): {ADM, OFF, DSP, KIO},
    ("GET", "/api/counters"): {ADM, OFF, DSP, KIO},
    ("GET", "/api/waiting-counts"): {ADM, OFF, DSP, KIO},
    ("GET", "/api/summary"): {ADM, OFF, DSP, KIO},
    ("GET", "/api/forecast"): {ADM, OFF, DSP, KIO},
    ("GET", "/api/tickets/{ref}/history"): {ADM, OFF, KIO},
    ("GET", "/api/tickets"): {ADM, OFF},
    ("POST", "/api/tickets"): {ADM, OFF, KIO},
    ("GET", "/api/tickets/{ref}"): {ADM, OFF, KIO},
    ("POST", "/api/tickets/{ref}/call"): {ADM, OFF},
    ("POST", "/api/tickets/{ref}/transfer"): {ADM, OFF},
    ("POST", "/api/tickets/{ref}/{action}"): {ADM, OFF},
    ("GET", "/api/counters/{counter_id}/queue"): {ADM, OFF},
    ("POST", "/api/counters/{counter_id}/call-next"): {ADM, OFF},
    ("PUT", "/api/counters/{counter_id}/state"): {ADM, OFF},
    ("POST", "/api/counters/{counter_id}/rating"): {ADM, OFF},
    ("GET", "/api/display"): {ADM, OFF, DSP},
    ("GET", "/api/events"): {ADM, OFF, DSP},
    ("GET", "/api/announce.wav"): {ADM, OFF, DSP},
    ("GET", "/api/chime.wav"): {ADM, OFF, DSP},
    ("GET", "/api/public/tickets/{token}"): PUBLIC,
    ("GET", "/api/public/tickets/{token}/events"): PUBLIC,
    ("POST", "/api/public/tickets/{token}/rating"): PUBLIC,
    ("GET", "/api/admin/services"): {ADM},
    ("PUT", "/api/admin/services/{series}"): {ADM},
    ("GET", "/api/admin/counters"): {ADM},
    ("PUT", "/api/admin/counters/{counter_id}"): {ADM},
    ("PUT", "/api/admin/counters"): {ADM},
    ("DELETE", "/api/admin/counters/{counter_id}"): {ADM},
    ("GET", "/api/admin/map"): {ADM},
    ("PUT", "/api/admin/opening-hours"): {ADM},
    ("GET", "/api/admin/priority-groups"): {ADM},
    ("PUT", "/api/admin/priority-groups/{key}"): {ADM},
    ("GET", "/api/admin/users"): {ADM},
    ("POST", "/api/admin/users"): {ADM},
    ("PUT", "/api/admin/users/{user_id}"): {ADM},
    ("DELETE", "/api/admin/users/{user_id}"): {ADM},
    ("POST", "/api/admin/users/{user_id}/token"): {ADM},
    ("POST", "/api/admin/catalogue/import"): {ADM},
    ("GET", "/api/admin/audit"): {ADM},
    ("GET", "/api/admin/logins"): {ADM},
    ("GET", "/api/reports"): {ADM},
    ("GET", "/api/reports.csv"): {ADM},
    ("GET", "/api/reports/chart/{kind}.{fmt}"): {ADM},
    ("GET", "/dossiers"): {ADM, OFF},
    ("GET", "/dossiers/digest"): {ADM, OFF},
    ("GET", "/dossiers/digest.csv"): {ADM, OFF},
    ("GET", "/dossiers/import"): {ADM},
    ("POST", "/dossiers/import"): {ADM},
    ("GET", "/dossiers/find"): {ADM, OFF},
    ("GET", "/dossiers/{code}"): {ADM, OFF},
    ("POST", "/api/dossiers"): {ADM},
    ("GET", "/api/dossiers/due"): {ADM, OFF},
    ("GET", "/api/dossiers/{code}"): {ADM, OFF},
    ("GET", "/api/dossiers/public/{code}"): {ADM, OFF, KIO},
    ("GET", "/forms/{file}"): PUBLIC,
    ("GET", "/p/{key}"): PUBLIC,
    ("GET", "/indicators"): {ADM},
    ("GET", "/api/indicators"): {ADM},
    ("GET", "/api/robot/status"): {ADM, OFF},
    ("GET", "/api/robot/events"): {ADM, OFF},
    ("POST", "/api/robot/reset"): {ADM},
}
DOCS = {("GET", "/openapi.json"), ("GET", "/docs")}


@pytest.fixture
def centre(tmp_config, tmp_path):
    return Centre(tmp_config, tmp_path / "centre.db", synthesize=lambda text, lang: _wav(tmp_path))


def _wav(tmp_path):
    from staff.announce import chime_wav

    return chime_wav(tmp_path / "speech.wav")


def test_every_route_is_in_the_access_table(centre):
    served = set(route_table(centre.app)) - DOCS
    assert served == set(ACCESS), f"untested: {served - set(ACCESS)}; gone: {set(ACCESS) - served}"


def _fill(path: str, ctx: dict) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(ctx[m.group(1)]), path)


BODIES = {
    ("POST", "/api/tickets"): {"service": "A"},
    ("POST", "/api/tickets/{ref}/transfer"): {"counter": 1},
    ("PUT", "/api/counters/{counter_id}/state"): {"state": "open"},
    ("POST", "/api/counters/{counter_id}/rating"): {"rating": 5, "ticket": "x" * 12},
    ("POST", "/api/public/tickets/{token}/rating"): {"rating": 4},
    ("PUT", "/api/admin/services/{series}"): {"target_wait_min": 20},
    ("PUT", "/api/admin/counters/{counter_id}"): {"state": "open"},
    ("PUT", "/api/admin/counters"): {"counters": [{"id": 1, "state": "open"}]},
    ("PUT", "/api/admin/opening-hours"): {"opening_hours": {"mon": ["07:30-11:30"]}, "services": ["A"]},
    ("PUT", "/api/admin/priority-groups/{key}"): {"name_vi": "Người cao tuổi", "name_en": "Elderly"},
    ("POST", "/api/admin/users"): {"name": "new-user", "role": "display", "password": "brand-new-pass"},
    ("PUT", "/api/admin/users/{user_id}"): {"full_name": "Tên mới"},
    ("POST", "/api/dossiers"): {"dossiers": []},
    ("POST", "/api/robot/reset"): {"robot": "robot-1"},
}
QUERIES = {
    ("POST", "/api/tickets/{ref}/call"): {"counter": 1},
    ("GET", "/api/announce.wav"): {"code": "A001", "counter": 1},
}


@pytest.mark.parametrize("role", [None, *ROLES])
def test_route_role_table(centre, role):
    """Each route: anonymous gets 401 (API) or the login page (pages); a wrong role gets 403; a right one does not."""
    qu = centre.queue()
    t = qu.issue("A", actor="test")
    spare = centre.client("admin").post("/api/admin/users", json={"name": f"spare-{role}", "role": "display",
                                                                    "password": "spare-pass-1"}).json()
    ctx = {"token": t.token, "counter_id": 1, "ref": t.id, "action": "recall", "series": "A",
           "user_id": spare["id"], "key": "elderly", "kind": "hourly", "fmt": "svg", "section": "services",
           "code": "HS-1", "file": "Mau01.docx"}
    problems = []
    for (method, path), allowed in sorted(ACCESS.items(), key=lambda kv: kv[0][0] == "POST" and kv[0][1] == "/logout"):
        if (method, path) == ("POST", "/login"):
            continue  # the login form has its own tests below
        cl = centre.client(role)
        url = _fill(path, ctx)
        kw = {"params": QUERIES.get((method, path), {})}
        if (method, path) in BODIES:
            kw["json"] = BODIES[(method, path)]
        is_page = not path.startswith("/api/")
        headers = {"Accept": "text/html"} if is_page else {}
        if allowed == PUBLIC and method != "GET" and role is None:
            # A public form: the page first sets the double-submit cookie and shows its token.
            page = cl.get(f"/t/{t.token}").text
            headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        if path.endswith("/events"):
            with cl.stream(method, url, headers=headers, **kw) as r:
                status = r.status_code
        else:
            r = cl.request(method, url, headers=headers, follow_redirects=False, **kw)
            status = r.status_code
        ok = allowed == PUBLIC or (role in allowed)
        if ok:
            if status in (401, 403) or status >= 500:
                problems.append(f"{role} {method} {path}: {status} but allowed")
        elif role is None:
            want = (303,) if is_page else (401,)
            if status not in want or (is_page and "/login" not in r.headers.get("location", "")):
                problems.append(f"anonymous {method} {path}: {status}, want {want}")
        elif status != 403:
            problems.append(f"{role} {method} {path}: {status}, want 403")
    assert not problems, "\n".join(problems)


def test_csrf_is_required_for_cookie_sessions(centre):
    centre.queue().issue("A", actor="test")
    cl = centre.client("officer")
    del cl.headers["X-CSRF-Token"]
    r = cl.post("/api/counters/1/call-next")
    assert r.status_code == 403 and r.json()["error"] == "CsrfFailed"
    r = cl.post("/api/counters/1/call-next", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert centre.queue().list(state="called") == []  # nothing happened
    r = cl.post("/api/counters/1/call-next", headers={"X-CSRF-Token": cl.csrf})
    assert r.status_code == 200 and r.json()["ticket"]["code"] == "A001"
    # A bearer token needs no CSRF token (no ambient credentials), a wrong one is refused.
    k = centre.client("kiosk")
    assert k.post("/api/tickets", json={"service": "B"}).status_code == 201
    k.headers["Authorization"] = "Bearer kt_wrong"
    assert k.post("/api/tickets", json={"service": "B"}).status_code == 401
    # The logout form is a form like any other.
    assert cl.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert cl.post("/logout", data={"csrf_token": cl.csrf}, follow_redirects=False).status_code == 303


def _login_form(cl):
    page = cl.get("/login")
    assert page.status_code == 200 and "charset=utf-8" in page.headers["content-type"]
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_login_sets_a_safe_cookie_and_the_form_needs_its_csrf_token(centre):
    cl = centre.client()
    r = cl.post("/login", data={"name": "lan", "password": PASSWORDS["lan"], "next": "/"}, follow_redirects=False)
    assert r.status_code == 403  # no token: refused before the password is even checked
    token = _login_form(cl)
    r = cl.post("/login", data={"name": "lan", "password": PASSWORDS["lan"], "next": "//evil.example/",
                                "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"  # no open redirect
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert cl.get("/api/me").json()["name"] == "lan"


def test_login_lockout_after_five_failures_and_it_is_logged(centre):
    cl = centre.client()
    token = _login_form(cl)
    for _ in range(centre.cfg.staff.login_max_tries):
        r = cl.post("/login", data={"name": "lan", "password": "guess-123", "csrf_token": token})
        assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in r.text
    r = cl.post("/login", data={"name": "lan", "password": PASSWORDS["lan"], "csrf_token": token})
    assert r.status_code == 429 and "quá nhiều lần" in r.text
    assert cl.get("/api/me").status_code == 401
    actions = [e["action"] for e in audit.entries(centre.conn)]
    assert actions.count("login.failed") == 5 and actions[0] == "login.locked"
    # Another user is not locked out by lan's failures.
    r = cl.post("/login", data={"name": "boss", "password": PASSWORDS["boss"], "csrf_token": token},
                follow_redirects=False)
    assert r.status_code == 303


def test_display_user_cannot_call_or_change_anything(centre):
    centre.queue().issue("A", actor="test")
    tv = centre.client("display")
    assert tv.post("/api/counters/1/call-next").status_code == 403
    assert tv.put("/api/counters/1/state", json={"state": "paused"}).status_code == 403
    assert tv.post("/api/tickets", json={"service": "A"}).status_code == 403
    assert centre.queue().list(state="waiting")[0].code == "A001"
    assert tv.get("/api/display").status_code == 200


def test_officer_is_bound_to_their_counters(centre):
    qu = centre.queue()
    qu.issue("B", actor="test")  # service B is served at counter 3 only
    lan = centre.client("officer")
    assert lan.post("/api/counters/3/call-next").status_code == 403
    assert lan.get("/console/3", headers={"Accept": "text/html"}).status_code == 403
    minh = centre.client("officer3")
    t = minh.post("/api/counters/3/call-next").json()["ticket"]
    assert t["code"] == "B001"
    assert lan.post(f"/api/tickets/{t['id']}/serve").status_code == 403  # not at lan's counter


def test_counter_flow_from_kiosk_ticket_to_rating(centre):
    kiosk, lan, tv, anon = centre.client("kiosk"), centre.client("officer"), centre.client("display"), centre.client()
    issued = [kiosk.post("/api/tickets", json={"service": "A", "lang": "en"}).json() for _ in range(3)]
    kiosk.post("/api/tickets", json={"service": "A", "priority": "elderly"})
    assert [i["ticket"]["code"] for i in issued] == ["A001", "A002", "A003"]
    assert issued[2]["ahead"] == 2 and issued[2]["wait_min"] > 0
    assert issued[0]["status_url"].endswith("/t/" + issued[0]["ticket"]["token"])

    q = lan.get("/api/counters/1/queue").json()
    assert [w["code"] for w in q["waiting"]] == ["A004", "A001", "A002", "A003"]  # priority first
    assert q["waiting"][0]["priority"] == "elderly"

    called = lan.post("/api/counters/1/call-next").json()["ticket"]
    assert called["code"] == "A004"
    r = lan.post("/api/counters/1/call-next")  # A004 was never started: the console must ask
    assert r.status_code == 409 and r.json()["error"] == "CurrentNotStarted" and r.json()["code"] == "A004"
    lan.post(f"/api/tickets/{called['id']}/start")
    called = lan.post("/api/counters/1/call-next").json()["ticket"]  # A004 becomes served
    assert called["code"] == "A001"
    d = tv.get("/api/display").json()
    c1 = next(c for c in d["counters"] if c["id"] == 1)
    assert c1["latest"]["code"] == "A001" and [r["code"] for r in d["recent"]][:2] == ["A001", "A004"]
    assert next(w for w in d["waiting"] if w["series"] == "A")["count"] == 2

    token = issued[0]["ticket"]["token"]
    st = anon.get(f"/api/public/tickets/{token}").json()
    assert st["state"] == "called" and st["counter"]["name_vi"] == "Quầy 1" and st["ahead"] == 0
    assert "token" not in st and "id" not in st and "procedure_key" not in st  # no internal or personal data
    page = anon.get(f"/t/{token}")
    assert page.status_code == 200 and 'lang="en"' in page.text  # the ticket's language

    lan.post(f"/api/tickets/{called['id']}/recall")
    assert lan.post(f"/api/tickets/{called['id']}/start").json()["ticket"]["state"] == "serving"
    assert lan.post(f"/api/tickets/{called['id']}/no-show").status_code == 409  # serving: cannot be a no-show
    assert lan.post(f"/api/tickets/{called['id']}/serve").json()["ticket"]["state"] == "served"
    assert anon.get(f"/api/public/tickets/{token}").json()["can_rate"] is True

    # Rating: a public form, so it needs the form cookie's CSRF token; once only; 1..5.
    assert anon.post(f"/api/public/tickets/{token}/rating", json={"rating": 5}).status_code == 403
    form_token = re.search(r'name="csrf-token" content="([^"]+)"', anon.get(f"/t/{token}").text).group(1)
    hdr = {"X-CSRF-Token": form_token}
    assert anon.post(f"/api/public/tickets/{token}/rating", json={"rating": 6}, headers=hdr).status_code == 422
    assert anon.post(f"/api/public/tickets/{token}/rating", json={"rating": 5}, headers=hdr).status_code == 200
    r = anon.post(f"/api/public/tickets/{token}/rating", json={"rating": 1}, headers=hdr)
    assert r.status_code == 409 and r.json()["error"] == "AlreadyRated"
    # A waiting ticket cannot be rated.
    r = anon.post(f"/api/public/tickets/{issued[1]['ticket']['token']}/rating", json={"rating": 3}, headers=hdr)
    assert r.status_code == 409

    # Transfer keeps the place; pause stops calls.
    nxt = lan.post("/api/counters/1/call-next").json()["ticket"]
    r = lan.post(f"/api/tickets/{nxt['id']}/transfer", json={"counter": 2})
    assert r.status_code == 200 and r.json()["ticket"]["target_counter"] == 2
    assert lan.put("/api/counters/1/state", json={"state": "paused"}).json()["state"] == "paused"
    r = lan.post("/api/counters/1/call-next")
    assert r.status_code == 409 and r.json()["error"] == "CounterClosed"
    assert lan.put("/api/counters/1/state", json={"state": "sleeping"}).status_code == 422

    rep = centre.client("admin").get("/api/reports", params={"start": "2026-11-25"}).json()
    assert rep["total"]["tickets"] == 4 and rep["total"]["served"] == 2 and rep["total"]["ratings"] == 1


def test_bad_input_gets_a_clear_error(centre):
    kiosk = centre.client("kiosk")
    r = kiosk.post("/api/tickets", json={"service": "Z"})
    assert r.status_code == 404 and "no service 'Z'" in r.json()["message"]
    r = kiosk.post("/api/tickets", json={"service": "A", "priority": "vip"})
    assert r.status_code == 422 and r.json()["error"] == "UnknownPriority"
    r = kiosk.post("/api/tickets", json={"service": "a"})
    assert r.status_code == 422 and r.json()["error"] == "InvalidRequest"
    assert kiosk.get("/api/tickets/999999").status_code == 404
    centre.clock.set(centre.clock.now().replace(hour=20))  # 20:00: closed
    r = kiosk.post("/api/tickets", json={"service": "A"})
    assert r.status_code == 409 and r.json()["error"] == "ServiceClosed" and r.json()["opens_at"].startswith("2026-11-26T07:30")
    assert centre.client().get("/api/public/tickets/nope").status_code == 404
    assert centre.client().get("/t/nope").status_code == 404


def test_invalid_requests_answer_in_the_servers_error_format_without_echoing_input(centre):
    """A request FastAPI cannot validate was answered in FastAPI's shape (`detail`, a list) with the
    sender's own keys in it; now `{"error", "message", "text", "fields"}` like every other error, `text`
    in the page's language (Vietnamese unless asked), and nothing the sender wrote comes back."""
    kiosk, admin = centre.client("kiosk"), centre.client("admin")
    hostile = "<script>alert(1)</script>"
    cases = [
        (kiosk.post, "/api/tickets", {"service": hostile}, ["body.service"]),
        (kiosk.post, "/api/tickets", {"service": "A", "procedure_key": "x\u200b" + hostile}, ["body.procedure_key"]),
        (admin.put, "/api/admin/opening-hours", {"opening_hours": {hostile: ["07:30-11:30"]}},
         ["body.opening_hours.\u2026.\u2026"]),
    ]
    for call, url, body, fields in cases:
        r = call(url, json=body)
        assert r.status_code == 422, r.text
        got = r.json()
        assert set(got) == {"error", "message", "text", "fields"} and got["error"] == "InvalidRequest", got
        assert got["fields"] == fields, got
        assert got["text"].startswith("Dữ liệu gửi lên không hợp lệ"), got
        assert "script" not in r.text and "alert" not in r.text, r.text
    r = kiosk.post("/api/tickets?lang=en", json={"service": hostile})
    assert r.json()["text"].startswith("The request is not valid") and "body.service" in r.json()["message"]
    # The validator's own words stay (what to fix), the sender's text does not.
    r = kiosk.post("/api/tickets", json={"service": "A", "procedure_key": "x\u200b"})
    assert "control or invisible character (U+200B)" in r.json()["message"]
    # Not JSON at all: the same shape.
    r = kiosk.post("/api/tickets", content=b'{"service": "' + hostile.encode() + b'"', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "InvalidRequest" and "script" not in r.text


def test_core_errors_are_said_in_the_pages_language(centre):
    """The Vietnamese admin page showed "Lỗi: the password must have at least 10 characters": an
    error of the core comes with `text` in the page's language; `message` stays the core's words."""
    admin = centre.client("admin")
    body = {"name": "lan2", "role": "officer", "counters": [1], "password": "ngan"}
    for lang, words in (("vi", "Mật khẩu phải có ít nhất 10 ký tự"), ("en", "The password must have at least 10")):
        r = admin.post(f"/api/admin/users?lang={lang}", json=body)
        assert r.status_code == 422 and r.json()["text"].startswith(words), r.json()
        assert "at least 10 characters" in r.json()["message"]
    r = admin.post("/api/admin/users?lang=vi", json={**body, "counters": [99], "password": "Quay-mot-hai-ba-4"})
    assert r.status_code == 422 and r.json()["text"] == "Quầy 99 không tồn tại.", r.json()
    r = centre.client("kiosk").post("/api/tickets", json={"service": "Z"})  # no language: Vietnamese
    assert r.status_code == 404 and r.json()["text"] == "Không có dịch vụ này." and "no service 'Z'" in r.json()["message"]


def test_admin_changes_are_audited_and_reach_the_kiosk_without_restart(centre):
    kiosk_queue = centre.queue()  # a kiosk process's own connection, opened before the change
    admin = centre.client("admin")
    r = admin.put("/api/admin/services/A", json={"target_wait_min": 25, "name_en": "Civil status"})
    assert r.status_code == 200 and r.json()["target_wait_min"] == 25
    assert kiosk_queue.service("A").target_wait_min == 25
    r = admin.put("/api/admin/services/A", json={"closed": True})
    with pytest.raises(Exception, match="closed"):
        kiosk_queue.issue("A", actor="kiosk")
    admin.put("/api/admin/services/A", json={"closed": False})
    r = admin.put("/api/admin/counters/2", json={"services": ["A", "B"], "waypoint": "counter_3"})
    assert r.json()["services"] == ["A", "B"] and r.json()["x"] == 16.0
    assert admin.put("/api/admin/counters/2", json={"waypoint": "nowhere"}).status_code == 422
    r = admin.put("/api/admin/opening-hours", json={"opening_hours": {"mon": ["08:00-11:00"]}})
    assert r.status_code == 200 and all(s["opening_hours"]["mon"] == ["08:00-11:00"] for s in r.json())
    assert admin.put("/api/admin/opening-hours", json={"opening_hours": {"mon": ["11:00-08:00"]}}).status_code == 422
    r = admin.put("/api/admin/priority-groups/veteran", json={"name_vi": "Cựu chiến binh", "name_en": "Veteran"})
    assert r.status_code == 200
    assert kiosk_queue.issue("B", priority="veteran", actor="kiosk", ignore_hours=True).priority == "veteran"
    admin.put("/api/admin/priority-groups/pregnant", json={"name_vi": "Phụ nữ mang thai", "name_en": "Pregnant woman",
                                                           "active": False})
    with pytest.raises(Exception, match="no priority group 'pregnant'"):
        kiosk_queue.issue("B", priority="pregnant", actor="kiosk", ignore_hours=True)
    assert admin.put("/api/admin/priority-groups/Bad Key", json={"name_vi": "x", "name_en": "y"}).status_code == 422
    r = admin.post("/api/admin/users", json={"name": "hoa", "role": "officer", "counters": [2],
                                             "password": "hoa-password-1"})
    assert r.status_code == 201
    assert admin.post("/api/admin/users", json={"name": "hoa", "role": "officer", "counters": [2],
                                                "password": "hoa-password-1"}).status_code == 422
    assert admin.put(f"/api/admin/users/{centre.users['admin'].id}", json={"active": False}).status_code == 422

    log = admin.get("/api/admin/audit").json()
    actions = [e["action"] for e in log]
    assert {"service.update", "counter.update", "priority_group.create", "user.create"} <= set(actions)
    svc = next(e for e in log if e["action"] == "service.update" and e["after"].get("target_wait_min") == 25)
    assert svc["before"]["target_wait_min"] == 15 and svc["actor"] == "admin:boss"
    user_row = next(e for e in log if e["action"] == "user.create")
    assert "hoa-password-1" not in str(user_row) and user_row["actor"] == "boss"
    page = admin.get("/admin/audit")
    assert page.status_code == 200 and "priority_group.create" in page.text


@pytest.mark.parametrize("section", ["services", "counters", "hours", "priority", "users", "catalogue", "audit"])
def test_admin_pages_render_with_csrf_tokens_in_every_form(centre, section):
    html = centre.client("admin").get(f"/admin/{section}").text
    forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
    assert forms
    for form in forms:
        assert 'name="csrf_token"' in form


def test_report_csv_and_charts(centre):
    qu = centre.queue()
    for _ in range(3):
        qu.issue("A", actor="test")
    qu.start(qu.call_next(1, actor="t"), actor="t")
    centre.clock.advance(minutes=5)
    qu.call_next(1, actor="t")
    admin = centre.client("admin")
    r = admin.get("/api/reports.csv", params={"start": "2026-11-25"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Phạm vi,Mục,Số phiếu,Đã phục vụ") and lines[1].startswith("Tổng,2026-11-25..2026-11-25,3,1")
    en = admin.get("/api/reports.csv", params={"start": "2026-11-25", "lang": "en"}).text.lstrip("\ufeff").splitlines()
    assert en[0].startswith("scope,key,tickets,served") and en[1].startswith("total,2026-11-25..2026-11-25,3,1")
    page = admin.get("/reports/print", params={"month": "2026-11"})
    assert page.status_code == 200 and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page.text
    assert "NGƯỜI LẬP BIỂU" in page.text and "01/11/2026" in page.text and "30/11/2026" in page.text
    svg = admin.get("/api/reports/chart/services.svg", params={"start": "2026-11-25"})
    assert svg.status_code == 200 and svg.text.lstrip().startswith("<?xml")
    png = admin.get("/api/reports/chart/hourly.png", params={"start": "2026-11-20", "end": "2026-11-25"})
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert admin.get("/api/reports", params={"start": "2026-11-25", "end": "2026-11-01"}).status_code == 422
    page = admin.get("/reports", params={"start": "2026-11-25"})
    assert page.status_code == 200 and "Tỉ lệ đạt chuẩn" in page.text


def test_api_docs_are_served_without_internet(centre):
    html = centre.client().get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in html
    assert not re.findall(r"""(?:src|href)=["']https?://""", html)  # nothing from a CDN
    assert centre.client().get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    spec = centre.client().get("/openapi.json").json()
    assert "/api/counters/{counter_id}/call-next" in spec["paths"]
    for page in ("/login", "/display"):
        assert not re.findall(r"""(?:src|href)=["']https?://""", centre.client("admin").get(page).text)


def test_announcement_and_chime_are_wav(centre):
    tv = centre.client("display")
    r = tv.get("/api/chime.wav")
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    r = tv.get("/api/announce.wav", params={"code": "A012", "counter": 3})
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert tv.get("/api/announce.wav", params={"code": "A012", "counter": 42}).status_code == 404
    assert tv.get("/api/announce.wav", params={"code": "<script>", "counter": 3}).status_code == 422


def test_counter_rating_tablet_needs_the_citizens_ticket_issue16(centre):
    """Issue 16: an officer could rate their own service before the citizen (no ticket needed)."""
    lan = centre.client("officer")
    qu = centre.queue()
    first_t = qu.issue("A", actor="kiosk")
    other = qu.issue("A", actor="kiosk")
    first = lan.post("/api/counters/1/call-next").json()["ticket"]
    assert "token" not in first  # staff screens never see a ticket's token
    lan.post(f"/api/tickets/{first['id']}/start")
    centre.clock.advance(minutes=7)
    lan.post("/api/counters/1/call-next")  # first is now served
    assert lan.post("/api/counters/1/rating", json={"rating": 4}).status_code == 422  # no ticket: refused
    r = lan.post("/api/counters/1/rating", json={"rating": 4, "ticket": other.token})
    assert r.status_code == 409  # not served here
    r = lan.post("/api/counters/1/rating", json={"rating": 4, "ticket": "http://x/t/" + first_t.token})
    assert r.status_code == 200 and r.json() == {"code": first["code"], "rating": 4}
    r = lan.post("/api/counters/1/rating", json={"rating": 5, "ticket": first_t.token})
    assert r.json()["error"] == "AlreadyRated"

def test_every_text_has_vietnamese_and_english_and_templates_use_known_keys():
    import pathlib

    from staff import i18n

    vi, en = i18n.texts("vi"), i18n.texts("en")
    assert set(vi) == set(en)
    assert all(v.strip() for v in vi.values()) and all(v.strip() for v in en.values())
    root = pathlib.Path(__file__).resolve().parent.parent / "staff" / "templates"
    used = set()
    for f in root.glob("*.html"):
        used |= set(re.findall(r"""\bt\(['"]([a-z0-9_]+)['"]""", f.read_text(encoding="utf-8")))
    prefixes = {k for k in used if k.endswith("_")}  # t('state_' + state): a family of keys
    assert all(any(key.startswith(p) for key in vi) for p in prefixes)
    for role in ("admin", "officer", "display", "kiosk"):
        assert f"role_{role}" in vi
    for state in ("open", "paused", "closed", "waiting", "called", "serving", "served", "no_show", "cancelled", "expired"):
        assert f"state_{state}" in vi
    used -= prefixes
    assert used and not used - set(vi), sorted(used - set(vi))
    assert "đ" in vi["app_name"].lower() or "ầ" in vi["app_name"]  # real Vietnamese, with diacritics


def test_catalogue_reimport_from_admin_is_audited_and_visible_to_the_kiosk(centre):
    from centre.catalogue import Catalogue

    admin = centre.client("admin")
    r = admin.post("/api/admin/catalogue/import")
    assert r.status_code == 200 and r.json()["ok"] and r.json()["report"]["procedures"] > 300
    kiosk_conn = centre.queue().conn  # the kiosk's own connection sees the new version
    v1 = Catalogue(kiosk_conn).version()
    assert admin.post("/api/admin/catalogue/import").json()["report"]["version"] == v1 + 1
    assert Catalogue(kiosk_conn).version() == v1 + 1
    rows = [e for e in admin.get("/api/admin/audit").json() if e["action"] == "catalogue.import"]
    assert len(rows) == 2 and rows[0]["after"]["version"] == v1 + 1 and rows[0]["actor"] == "boss"


def test_public_live_streams_are_capped(centre):
    from staff.events import StreamLimits

    centre.app.state.staff.broker.limits = StreamLimits(per_client=0)
    t = centre.queue().issue("A", actor="kiosk")
    r = centre.client().get(f"/api/public/tickets/{t.token}/events")
    assert r.status_code == 503 and r.json()["error"] == "TooManyStreams" and int(r.headers["retry-after"]) > 0


def test_self_service_password_change_page_issue16(centre):
    lan = centre.client("officer")
    assert lan.get("/account").status_code == 200
    r = lan.post("/account/password", data={"old": "wrong-password", "new": "another-pass-9",
                                            "repeat": "another-pass-9"}, follow_redirects=False)
    assert r.status_code == 422 and "another-pass-9" not in r.text
    r = lan.post("/account/password", data={"old": PASSWORDS["lan"], "new": "12345678901", "repeat": "12345678901"},
                 follow_redirects=False)
    assert r.status_code == 422
    r = lan.post("/account/password", data={"old": PASSWORDS["lan"], "new": "another-pass-9",
                                            "repeat": "another-pass-9"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert lan.get("/api/me").status_code == 401  # the session ended
    assert [e["action"] for e in audit.entries(centre.conn, entity="user")][:2] == ["password.change",
                                                                                  "password.change_failed"]


def test_hardening_headers_body_limits_and_numbers_issue16(centre):
    anon = centre.client()
    page = anon.get("/login")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    t = centre.queue().issue("A", actor="kiosk")
    st = anon.get(f"/t/{t.token}")
    assert st.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in st.headers["content-security-policy"]
    # a body over the limit is refused before login or parsing (413), JSON and multipart alike
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    assert anon.post("/api/tickets", content=big, headers={"Content-Type": "application/json"}).status_code == 413
    r = anon.post("/login", files={"file": ("x.bin", b"0" * (2 * 1024 * 1024))})
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted as it comes (the body parser's 400 became our 413)
        for _ in range(3):
            yield b" " * (1024 * 1024)

    r = anon.post("/api/tickets", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # Infinity, NaN and 1e400 are refused with 422 (were 500), even anonymously
    for raw in (b'{"rating": Infinity}', b'{"rating": NaN}', b'{"rating": 1e400}'):
        r = anon.post(f"/api/public/tickets/{t.token}/rating", content=raw,
                      headers={"Content-Type": "application/json", "X-CSRF-Token": "x"})
        assert r.status_code in (403, 422)
    admin = centre.client("admin")
    for raw in (b'{"target_wait_min": Infinity}', b'{"target_wait_min": NaN}', b'{"target_wait_min": 1e400}'):
        r = admin.put("/api/admin/services/A", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, raw


def test_counters_page_saves_once_adds_and_deletes_issue16(centre):
    admin = centre.client("admin")
    page = admin.get("/admin/counters")
    assert page.status_code == 200 and page.text.count('type="checkbox" name="services"') >= 4 * 4
    r = admin.put("/api/admin/counters", json={"counters": [
        {"id": 1, "services": ["A", "B"], "name_vi": "Quầy một"},
        {"id": 5, "name_vi": "Quầy 5", "name_en": "Counter 5", "services": ["C"], "waypoint": "counter_4",
         "state": "open"}], "delete": [4]})
    assert r.status_code == 200, r.text
    qu = centre.queue()
    assert {c.id for c in qu.counters()} == {1, 2, 3, 5}
    assert qu.counter(1).services == ("A", "B") and qu.counter(1).name_vi == "Quầy một"
    # nothing changes when one row is wrong (checked before saving)
    r = admin.put("/api/admin/counters", json={"counters": [{"id": 2, "services": ["A"]},
                                                            {"id": 3, "services": ["Z"]}]})
    assert r.status_code == 404 and qu.counter(2).services == ("A", "D")
    # a counter with a called ticket cannot be deleted
    qu.issue("C", actor="kiosk")
    qu.call_next(5, actor="t")
    r = admin.delete("/api/admin/counters/5")
    assert r.status_code == 409 and 5 in {c.id for c in qu.counters()}
    # a deleted config counter comes back when added again with everything
    r = admin.put("/api/admin/counters", json={"counters": [{"id": 4, "name_vi": "Quầy 4", "name_en": "Counter 4",
                                                             "services": ["D"], "waypoint": "counter_4"}]})
    assert r.status_code == 200 and qu.counter(4).services == ("D",)


def test_status_tokens_are_never_in_list_or_read_apis_issue16(centre):
    """Issue 16: kiosk and officer tokens could read any ticket's status token by sequential id."""
    t = centre.queue().issue("A", actor="kiosk")
    lan, kiosk = centre.client("officer"), centre.client("kiosk")
    for r in (lan.get("/api/tickets"), lan.get(f"/api/tickets/{t.id}"), kiosk.get(f"/api/tickets/{t.id}"),
              kiosk.get(f"/api/tickets/{t.code}"), lan.get("/api/counters/1/queue"), lan.get("/api/display")):
        assert r.status_code == 200 and t.token not in r.text, r.url
    # whoever already holds the token (the ticket's QR) gets it back; the issuing kiosk gets its own
    assert kiosk.get(f"/api/tickets/{t.token}").json()["ticket"]["token"] == t.token
    issued = kiosk.post("/api/tickets", json={"service": "A"}).json()
    assert issued["ticket"]["token"] and issued["status_url"].endswith(issued["ticket"]["token"])


def test_issue_with_an_idempotency_key_over_http_issue16(centre):
    kiosk = centre.client("kiosk")
    a = kiosk.post("/api/tickets", json={"service": "A"}, headers={"Idempotency-Key": "tap-42"}).json()
    b = kiosk.post("/api/tickets", json={"service": "A"}, headers={"Idempotency-Key": "tap-42"}).json()
    assert a["ticket"]["id"] == b["ticket"]["id"] and len(centre.queue().list()) == 1

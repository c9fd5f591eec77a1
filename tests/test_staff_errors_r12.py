"""Round 12, the staff server: a JSON body is parsed once (strictly), and unknown paths or
methods answer in the server's own error shape (they were FastAPI's `{"detail": "Not Found"}`)."""

from __future__ import annotations

import json

import pytest
from staff_helpers import Centre


@pytest.fixture
def centre(tmp_config, tmp_path):
    return Centre(tmp_config, tmp_path / "centre.db")


def test_a_json_body_is_parsed_once_and_strictly(centre, monkeypatch):
    """StrictJsonBody (round 11) parsed each body strictly and FastAPI parsed it again."""
    body = b'{"service": "A", "priority": null, "lang": "vi"}'
    parsed, loads = [], json.loads

    def counting(s, *args, **kw):
        if s == body:
            parsed.append(kw.get("object_pairs_hook"))
        return loads(s, *args, **kw)

    kiosk = centre.client("kiosk")
    monkeypatch.setattr(json, "loads", counting)
    r = kiosk.post("/api/tickets", content=body, headers={"content-type": "application/json"})
    monkeypatch.undo()
    assert r.status_code == 201, r.text
    assert len(parsed) == 1 and parsed[0] is not None, parsed  # once, with the duplicate-key check
    r = kiosk.post("/api/tickets", content=b'{"service": "A", "service": "B"}',
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "InvalidRequest", r.text
    assert [t.service for t in centre.queue().list(limit=10)] == ["A"]


@pytest.mark.parametrize("path", ["/api/no-such-thing", "/no-such-page", "/api/nothing/here/at-all"])
def test_an_unknown_path_is_a_404_in_the_error_shape(centre, path):
    r = centre.client("officer").get(path)
    assert r.status_code == 404, r.text
    assert r.json() == {"error": "NotFound", "message": "nothing is served at this path", "text": "Không tìm thấy."}
    assert r.headers["x-content-type-options"] == "nosniff"
    r = centre.client().get(path, params={"lang": "en"})  # anonymous: still 404, not a login demand
    assert r.status_code == 404 and r.json()["text"] == "Not found."


def test_a_method_a_path_does_not_take_is_a_405_in_the_error_shape_with_allow(centre):
    r = centre.client("kiosk").delete("/api/tickets")
    assert r.status_code == 405, r.text
    got = r.json()
    assert got["error"] == "MethodNotAllowed" and got["message"] and got["text"], got
    assert r.headers["allow"]  # (Starlette names the methods of the first route on the path)


def test_a_browser_gets_a_page_for_an_unknown_path_in_its_language(centre):
    officer = centre.client("officer")
    r = officer.get("/no-such-page", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Không tìm thấy." in r.text and 'lang="vi"' in r.text
    r = officer.get("/no-such-page?lang=en", headers={"accept": "text/html"})
    assert r.status_code == 404 and "Not found." in r.text and 'lang="en"' in r.text
    r = officer.get("/api/no-such-thing", headers={"accept": "text/html"})  # the API answers JSON whatever it accepts
    assert r.status_code == 404 and r.json()["error"] == "NotFound"


def test_a_missing_static_file_is_a_404_in_the_error_shape(centre):
    r = centre.client().get("/static/no-such-file.js")
    assert r.status_code == 404 and r.json()["error"] == "NotFound"


def test_every_route_of_the_app_is_strict_even_in_an_included_router(centre):
    """/api/public (a router the queue API's router includes) took a rating body with a key twice."""
    from fastapi.routing import APIRoute

    from staff.app import StrictJsonRoute

    routes = [ctx.original_route for route in centre.app.routes if hasattr(route, "effective_route_contexts")
              for ctx in route.effective_route_contexts()]
    plain = [r.path for r in routes if isinstance(r, APIRoute) and not isinstance(r, StrictJsonRoute)]
    assert routes and not plain, plain
    r = centre.client().post("/api/public/tickets/nope/rating", content=b'{"stars": 5, "stars": 1}',
                             headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["message"] == "body: a key appears twice in one JSON object", r.text


def test_a_client_gone_before_its_json_body_arrived_is_no_server_error(centre):
    import asyncio

    scope = {"type": "http", "method": "POST", "path": "/api/tickets", "raw_path": b"/api/tickets", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"authorization",
                                                                   f"Bearer {centre.kiosk_token}".encode())],
             "client": ("127.0.0.1", 1), "server": ("test", 80), "scheme": "http", "root_path": "",
             "http_version": "1.1"}
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(centre.app(scope, receive, send))
    assert sent and sent[0]["status"] == 400, sent
    assert centre.queue().list(limit=10) == []

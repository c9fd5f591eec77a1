"""Dossier pages and API on the staff server, and the public form files (issues 8 and 9).

Dashboard of late / due-soon dossiers per field and officer, the daily digest and its CSV,
the detail page with history, the import form (CSRF, bad rows with their line, audit), the
one-stop platform's push API (admin token, idempotent), masking (staff see the applicant,
nobody else does), and `/forms/<file>` (served from paths.forms, no traversal, a portal link
when the file is missing).
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
import warnings
from pathlib import Path

import pytest
from staff_helpers import Centre

from centre import audit, users
from centre.catalogue_schema import ensure_schema
from staff.routes.forms import find_form_file

warnings.filterwarnings("ignore", message=".*httpx2.*")
ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "tests" / "data" / "dossiers" / "export.csv"

# The helpers' clock: Wednesday 25/11/2026 09:00. Two working days ahead: Friday 27/11.
LATE = {"code": "HS-LATE-1", "procedure_code": "9.999001", "applicant_name": "Nguyễn Văn An",
        "applicant_phone": "0912 345 678", "received_at": "2026-11-16 08:00", "due_at": "2026-11-20",
        "state": "Đang xử lý", "counter": "1", "officer": "cb.hoa"}
SOON = {"code": "HS-SOON-2", "procedure_code": "9.999001", "applicant_name": "Trần Thị Bình",
        "applicant_phone": "0987654321", "received_at": "2026-11-23 10:00", "due_at": "2026-11-27",
        "state": "received", "counter": "2", "officer": "cb.nam"}
LATER = {"code": "HS-LATER-3", "applicant_name": "Lê Văn Cường", "received_at": "2026-11-24 10:00",
         "due_at": "2026-12-20", "state": "processing", "officer": "cb.hoa"}
DONE = {"code": "HS-DONE-4", "applicant_name": "Phạm Thị Dung", "received_at": "2026-11-02 10:00",
        "due_at": "2026-11-10", "state": "Đã trả kết quả", "officer": "cb.nam"}
NAMES = ("Nguyễn Văn An", "Trần Thị Bình")
PHONES = ("0912345678", "0987654321")


def _catalogue(conn):
    """A one-field, two-procedure catalogue: one procedure with a form and its portal page."""
    ensure_schema(conn)
    conn.execute("INSERT INTO fields(id, name_vi, name_en) VALUES ('ho-tich', 'Hộ tịch', 'Civil status')")
    conn.execute(
        "INSERT INTO procedures(key, code, name, official_name, name_en, field_id, forms_json, portal_url) "
        "VALUES ('9.999001', '9.999001', 'Đăng ký khai sinh', 'Thủ tục đăng ký khai sinh', 'Birth registration', "
        "'ho-tich', ?, 'https://dichvucong.gov.vn/thu-tuc-hanh-chinh/abc-123')",
        ('[{"name": "Mẫu số 01", "file": "Mẫu số 01.docx"}]',))
    conn.execute(
        "INSERT INTO procedures(key, code, name, official_name, field_id, forms_json, portal_url) "
        "VALUES ('9.999002', '9.999002', 'Đăng ký kết hôn', 'Thủ tục đăng ký kết hôn', 'ho-tich', ?, 'javascript:alert(1)')",
        ('[{"name": "Mẫu số 01", "file": "Mẫu số 01.docx"}, {"name": "Tờ khai", "file": "Tờ khai.pdf"}]',))


@pytest.fixture
def forms_dir(tmp_path):
    d = tmp_path / "forms"
    d.mkdir()
    return d


@pytest.fixture
def centre(tmp_config, tmp_path, forms_dir):
    cfg = tmp_config.model_copy(update={"paths": tmp_config.paths.model_copy(update={"forms": forms_dir})})
    c = Centre(cfg, tmp_path / "centre.db")
    _catalogue(c.conn)
    c.admin_token = users.create_api_token(c.conn, c.users["admin"].id, "one-stop")
    c.officer_token = users.create_api_token(c.conn, c.users["officer"].id, "x")
    return c


def _push(centre, records, token=None):
    from fastapi.testclient import TestClient

    cl = TestClient(centre.app)
    return cl.post("/api/dossiers", json=records,
                   headers={"Authorization": f"Bearer {token or centre.admin_token}"})


def _seed(centre):
    r = _push(centre, [LATE, SOON, LATER, DONE])
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 4


# -- push API ----------------------------------------------------------------------------------


def test_push_is_idempotent_and_reports_bad_records(centre):
    bad = {"code": "", "received_at": "2026-11-24"}
    worse = {"code": "HS-BAD-DATE", "received_at": "31/02/2026"}
    odd = {"code": "HS-ODD", "received_at": "2026-11-24", "missing_documents": {"a": 1}}
    far = {"code": "HS-FAR", "procedure_code": "9.999001", "received_at": "9999-12-31 23:00"}
    r = _push(centre, {"dossiers": [LATE, bad, SOON, worse, "not an object", odd, far]})
    assert r.status_code == 200
    rep = r.json()
    assert (rep["inserted"], rep["updated"], rep["unchanged"]) == (2, 0, 0)
    assert [e["line"] for e in rep["errors"]] == [2, 4, 5, 6, 7]
    assert rep["errors"][3]["reason"].startswith("missing_documents")
    assert rep["errors"][4]["reason"] == "received_at: year 9999 is not plausible"
    assert "code" in rep["errors"][0]["reason"] and "received_at" in rep["errors"][1]["reason"]
    again = _push(centre, [LATE, SOON]).json()
    assert (again["inserted"], again["updated"], again["unchanged"], again["errors"]) == (0, 0, 2, [])
    moved = _push(centre, [dict(LATE, state="Đã có kết quả")]).json()
    assert moved["updated"] == 1
    cl = centre.client("officer")
    hist = cl.get("/api/dossiers/hs-late-1").json()["history"]
    assert [h["state"] for h in hist] == ["processing", "ready"]
    assert all(h["source"] == "api:boss" for h in hist)
    # Every push is in the change log.
    pushes = audit.entries(centre.conn, entity="dossiers")
    assert [e["action"] for e in pushes] == ["dossiers.push"] * 3


def test_push_needs_an_admin(centre):
    assert _push(centre, [LATE], token=centre.officer_token).status_code == 403
    assert _push(centre, [LATE], token=centre.kiosk_token).status_code == 403
    assert _push(centre, [LATE], token="kt_wrong").status_code == 401
    officer = centre.client("officer")
    assert officer.post("/api/dossiers", json=[LATE]).status_code == 403
    admin = centre.client("admin")
    del admin.headers["X-CSRF-Token"]
    assert admin.post("/api/dossiers", json=[LATE]).status_code == 403  # a cookie needs its CSRF token
    assert centre.client("officer").get("/api/dossiers/HS-LATE-1").status_code == 404  # nothing stored


def test_push_rejects_a_body_that_is_not_dossiers(centre):
    r = _push(centre, {"records": [LATE]})
    assert r.status_code == 422 and r.json()["error"] == "ImportFileError"
    from fastapi.testclient import TestClient

    r = TestClient(centre.app).post("/api/dossiers", content=b"{not json",
                                    headers={"Authorization": f"Bearer {centre.admin_token}",
                                             "Content-Type": "application/json"})
    assert r.status_code == 422


# -- reading: API, dashboard, detail, digest ---------------------------------------------------------


def test_due_api_and_dashboard_group_per_field_and_officer(centre):
    _seed(centre)
    cl = centre.client("officer3")  # an officer of another counter sees every dossier
    due = cl.get("/api/dossiers/due").json()
    assert due["today"] == "2026-11-25" and due["within_working_days"] == 2
    assert [d["code"] for d in due["late"]] == ["HS-LATE-1"] and due["late"][0]["late"] is True
    assert [d["code"] for d in due["due_soon"]] == ["HS-SOON-2"]
    assert due["late"][0]["applicant_phone"] == "0912345678"  # staff see the full record
    wider = cl.get("/api/dossiers/due", params={"days": 30}).json()
    assert [d["code"] for d in wider["due_soon"]] == ["HS-SOON-2", "HS-LATER-3"]
    page = cl.get("/dossiers")
    assert page.status_code == 200 and "charset=utf-8" in page.headers["content-type"]
    html = page.text
    for text in (*NAMES, "0912345678", "Hộ tịch", "cb.hoa", "cb.nam", "Đăng ký khai sinh"):
        assert text in html, text
    assert "HS-LATER-3" not in html and "HS-DONE-4" not in html
    # Per-field table: Hộ tịch has one late and one due soon.
    assert re.search(r"Hộ tịch</td><td class=\"num late\">1</td><td class=\"num\">1</td>", html)
    assert re.search(r"cb\.hoa</td><td class=\"num late\">1</td><td class=\"num\">0</td>", html)
    en = cl.get("/dossiers?lang=en").text
    assert "Civil status" in en and "Dossiers due and late" in en


def test_detail_page_and_find(centre):
    _seed(centre)
    _push(centre, [dict(SOON, state="Yêu cầu bổ sung", missing_documents="Tờ khai; Bản sao CCCD")])
    cl = centre.client("officer")
    page = cl.get("/dossiers/HS-SOON-2")
    assert page.status_code == 200
    for text in ("Trần Thị Bình", "0987654321", "Tờ khai", "Bản sao CCCD", "Mới tiếp nhận", "Yêu cầu bổ sung"):
        assert text in page.text, text
    r = cl.get("/dossiers/find", params={"code": " hs-soon-2 "}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dossiers/HS-SOON-2"
    missing = cl.get("/dossiers/HS-SOON-3")
    assert missing.status_code == 404 and "HS-SOON-3" in missing.text and "Trần" not in missing.text
    assert cl.get("/api/dossiers/HS-SOON-3").json()["error"] == "UnknownDossier"


def test_digest_page_and_csv(centre):
    _seed(centre)
    cl = centre.client("admin")
    page = cl.get("/dossiers/digest", params={"date": "2026-11-25"})
    assert page.status_code == 200 and "25/11/2026" in page.text  # a Vietnamese date, not ISO (issue 16)
    r = cl.get("/dossiers/digest.csv", params={"date": "2026-11-25"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="dossiers-2026-11-25.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0] == ["day", "section", "key", "name", "count"]
    got = {(s, k): int(n) for _, s, k, _, n in rows[1:]}
    assert got[("late", "")] == 1 and got[("due_soon", "")] == 1
    assert got[("by_state", "processing")] == 2 and got[("by_state", "returned")] == 1
    assert got[("late_by_field", "ho-tich")] == 1 and got[("late_by_officer", "cb.hoa")] == 1
    assert ["2026-11-25", "late_by_field", "ho-tich", "Hộ tịch", "1"] in rows
    # No personal data in the summary.
    assert not any(n in r.text for n in NAMES + PHONES)
    assert cl.get("/dossiers/digest.csv", params={"date": "25/11/2026"}).status_code == 422
    assert cl.get("/dossiers/digest", params={"date": "9999-12-31"}).status_code == 422


def test_masking_staff_see_the_applicant_nobody_else_does(centre):
    _seed(centre)
    officer = centre.client("officer")
    assert "Nguyễn Văn An" in officer.get("/api/dossiers/HS-LATE-1").text
    for role in (None, "display", "kiosk"):
        cl = centre.client(role)
        for url in ("/api/dossiers/HS-LATE-1", "/api/dossiers/due", "/dossiers/HS-LATE-1", "/dossiers",
                    "/dossiers/digest.csv"):
            r = cl.get(url, headers={"Accept": "text/html"} if not url.startswith("/api/") else {},
                       follow_redirects=True)
            # Refused (401/403), or sent to the login page.
            assert r.status_code in (401, 403) or (r.status_code == 200 and r.url.path == "/login"), (role, url)
            assert not any(n in r.text for n in NAMES + PHONES), (role, url)
            assert "HS-LATE-1" not in r.text or "/login" in str(r.url), (role, url)
        # The masked answer a kiosk screen shows: for kiosk tokens (remote kiosks) and staff, not for others.
        r = cl.get("/api/dossiers/public/HS-LATE-1")
        if role == "kiosk":
            assert r.status_code == 200 and r.json()["applicant"] == "N. V. A." and r.json()["late"] is True
            assert "applicant_phone" not in r.json() and not any(n in r.text for n in NAMES + PHONES)
            assert cl.get("/api/dossiers/public/HS-LATE-2").status_code == 404
        else:
            assert r.status_code == (401 if role is None else 403) and "HS-LATE-1" not in r.text


# -- the import form ----------------------------------------------------------------------------------


def _import(cl, name, data, csrf=True):
    form = {"csrf_token": cl.csrf} if csrf else {}
    headers = {"X-CSRF-Token": ""} if not csrf else {}
    return cl.post("/dossiers/import", data=form, files={"file": (name, data)}, headers=headers)


def test_import_form_is_for_admins_issue16(centre):
    """Issue 16: an officer could rewrite any dossier through the import form."""
    cl = centre.client("officer")
    assert cl.get("/dossiers/import").status_code == 403
    assert _import(cl, "export.csv", EXPORT.read_bytes()).status_code == 403
    assert audit.entries(centre.conn, entity="dossiers") == []
    assert "/dossiers/import" not in cl.get("/dossiers").text


def test_public_lookup_is_throttled_per_token_and_shows_no_name_lengths_issue16(centre):
    kiosk = centre.client("kiosk")
    codes = [kiosk.get(f"/api/dossiers/public/NOPE-{i}").status_code for i in range(25)]
    assert codes[:20] == [404] * 20 and codes[20:] == [429] * 5
    assert centre.client("officer").get("/api/dossiers/public/NOPE").status_code == 404  # another caller


def test_a_code_copied_with_spaces_and_dashes_is_found_by_kiosk_and_staff(centre):
    """The receipt's code typed the way a citizen copies it: the remote kiosk's lookup, the staff
    API and the dossier pages' search box all find the dossier (normalised once, in centre.dossiers)."""
    from urllib.parse import quote

    r = _push(centre, [{**LATE, "code": "000.00.19.H47-261207-0001"}])
    assert r.status_code == 200 and r.json()["inserted"] == 1
    typed = "000 . 00 . 19 . h47 \u2013 261207 - 0001"
    pub = centre.client("kiosk").get(f"/api/dossiers/public/{quote(typed, safe='')}")
    assert pub.status_code == 200 and pub.json()["code"] == "000.00.19.H47-261207-0001", pub.text
    officer = centre.client("officer")
    api = officer.get(f"/api/dossiers/{quote('000 00 19 H47 261207 0001', safe='')}")
    assert api.status_code == 200 and api.json()["applicant_name"] == "Nguyễn Văn An"
    page = officer.get("/dossiers/find", params={"code": typed}, headers={"Accept": "text/html"},
                       follow_redirects=True)
    assert page.status_code == 200 and "Nguyễn Văn An" in page.text
    assert officer.get(f"/api/dossiers/{quote('000 00 19 H47 261207 0002', safe='')}").status_code == 404


def test_import_form_needs_its_csrf_token(centre):
    cl = centre.client("admin")
    del cl.headers["X-CSRF-Token"]  # a browser form sends the token as a field, not a header
    page = cl.get("/dossiers/import")
    assert page.status_code == 200 and f'name="csrf_token" value="{cl.csrf}"' in page.text
    r = cl.post("/dossiers/import", files={"file": ("export.csv", EXPORT.read_bytes())})
    assert r.status_code == 403
    r = cl.post("/dossiers/import", data={"csrf_token": "forged"}, files={"file": ("export.csv", EXPORT.read_bytes())})
    assert r.status_code == 403
    assert centre.client("admin").get("/api/dossiers/due", params={"days": 60}).json()["late"] == []
    assert audit.entries(centre.conn, entity="dossiers") == []


def test_import_form_reports_bad_rows_and_is_idempotent(centre):
    cl = centre.client("admin")
    del cl.headers["X-CSRF-Token"]
    r = _import(cl, "export.csv", EXPORT.read_bytes())
    assert r.status_code == 200, r.text
    html = r.text
    # Line 5 of the file has no receipt code: reported with its line, the good rows imported.
    bad = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td></tr>', html.split("bad-rows", 1)[1])
    assert ("5", "code: the receipt code is empty") in bad
    n_bad = len(bad)
    lines = EXPORT.read_text(encoding="utf-8").strip().splitlines()
    inserted = len(lines) - 1 - n_bad
    assert re.search(rf"Hồ sơ mới</th><td class=\"num\">{inserted}</td>", html)
    again = _import(cl, "export.csv", EXPORT.read_bytes()).text
    assert re.search(r"Hồ sơ mới</th><td class=\"num\">0</td>", again)
    assert re.search(rf"Không thay đổi</th><td class=\"num\">{inserted}</td>", again)
    log = audit.entries(centre.conn, entity="dossiers")
    assert [e["action"] for e in log] == ["dossiers.import", "dossiers.import"]
    assert log[-1]["actor"] == "boss" and log[-1]["after"]["inserted"] == inserted
    assert log[-1]["after"]["bad_rows"] == n_bad and log[-1]["entity_key"] == "export.csv"


def test_import_form_reads_json_and_xlsx_and_refuses_other_files(centre, tmp_path):
    import json

    import openpyxl

    cl = centre.client("admin")
    r = _import(cl, "push.json", json.dumps([LATE, SOON], ensure_ascii=False).encode())
    assert r.status_code == 200 and re.search(r"Hồ sơ mới</th><td class=\"num\">2</td>", r.text)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Mã hồ sơ", "Ngày tiếp nhận", "Trạng thái", "Người nộp"])
    ws.append(["HS-XLSX-1", "24/11/2026 10:00", "Đang xử lý", "Hoàng Văn Em"])
    ws.append(["HS-XLSX-2", "not a date", "Đang xử lý", "Vũ Thị Gấm"])
    path = tmp_path / "e.xlsx"
    wb.save(path)
    r = _import(cl, "e.xlsx", path.read_bytes())
    assert r.status_code == 200 and re.search(r"Hồ sơ mới</th><td class=\"num\">1</td>", r.text)
    assert '<td class="num">3</td><td>received_at:' in r.text  # row 3 of the sheet
    r = _import(cl, "virus.exe", b"MZ")
    assert r.status_code == 422 and "virus.exe" in r.text
    r = _import(cl, "broken.json", b"[{")
    assert r.status_code == 422
    r = _import(cl, "latin1.csv", "Mã,Ngày\nX,1/1/2026\n".encode("latin-1"))
    assert r.status_code == 422 and "UTF-8" in r.text
    assert [e["action"] for e in audit.entries(centre.conn, entity="dossiers")][:2] == ["dossiers.import_failed"] * 2


# -- forms --------------------------------------------------------------------------------------------


def test_form_file_is_served_when_the_centre_has_it(centre, forms_dir):
    (forms_dir / "Mẫu số 01.docx").write_bytes(b"PK\x03\x04 form")
    cl = centre.client()
    r = cl.get("/forms/M%E1%BA%ABu%20s%E1%BB%91%2001.docx")  # as the kiosk's quote() writes it
    assert r.status_code == 200 and r.content == b"PK\x03\x04 form"
    assert "wordprocessingml" in r.headers["content-type"]
    assert "attachment" in r.headers["content-disposition"]
    # A name typed in decomposed Unicode (NFD) finds the same file.
    nfd = unicodedata.normalize("NFD", "Mẫu số 01.docx")
    assert cl.get(f"/forms/{nfd}").content == b"PK\x03\x04 form"


def test_missing_form_page_names_the_form_and_links_the_portal(centre):
    cl = centre.client()
    r = cl.get("/forms/Mẫu số 01.docx")
    assert r.status_code == 404 and r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.text
    assert "Mẫu số 01" in html and "Đăng ký khai sinh" in html and "Đăng ký kết hôn" in html
    assert 'href="https://dichvucong.gov.vn/thu-tuc-hanh-chinh/abc-123"' in html
    assert "javascript:" not in html  # a bad link in the data is not a link on the page
    assert "Cổng Dịch vụ công quốc gia" in html
    en = cl.get("/forms/Mẫu số 01.docx?lang=en").text
    assert "National Public Service Portal" in en and "Birth registration" in en
    unknown = cl.get("/forms/nothing.doc?lang=vi")
    assert unknown.status_code == 404 and "Không có mẫu đơn nào tên này" in unknown.text


def test_form_paths_cannot_leave_the_forms_folder(centre, forms_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    (forms_dir / ".hidden").write_text("SECRET")
    os.symlink(secret, forms_dir / "link.docx")
    sub = forms_dir / "sub"
    sub.mkdir()
    (sub / "x.docx").write_text("SECRET")
    cl = centre.client()
    for url in ("/forms/..%2Fsecret.txt", "/forms/%2E%2E%2Fsecret.txt", "/forms/..", "/forms/.hidden",
                "/forms/link.docx", "/forms/sub%2Fx.docx", "/forms/..%5Csecret.txt", "/forms/sub",
                "/forms/%00", "/forms/../secret.txt", "/forms/%2e%2e/%2e%2e/config.yaml"):
        r = cl.get(url)
        # The client itself folds '..' segments (then the app sends it home); the rest must reach us and fail.
        assert r.status_code == 404 or not r.url.path.startswith("/forms/"), url
        assert "SECRET" not in r.text and "centre:" not in r.text, url
    for name in ("..", "../secret.txt", "..\\secret.txt", ".hidden", "link.docx", "sub", "sub/x.docx", "", "a\x00b",
                 " .hidden", "C:secret.txt"):
        assert find_form_file(forms_dir, name) is None, name
    (forms_dir / "ok.pdf").write_bytes(b"%PDF")
    assert find_form_file(forms_dir, "ok.pdf") == (forms_dir / "ok.pdf").resolve()

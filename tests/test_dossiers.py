"""Dossiers: working-day due dates around Tết and make-up days, the 15:00 rule, import with bad
rows, idempotent re-import, masking, and lookups that never show another person's dossier."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path

import pytest

from centre.catalogue_schema import ensure_schema
from centre.db import connect
from centre.dossiers import DossierError, Dossiers, ImportFileError, mask_name, mask_phone, parse_state
from centre.workdays import HolidayFileError, WorkCalendar, due_date, load_calendar

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "tests" / "data" / "dossiers" / "export.csv"


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return load_calendar(ROOT / "data" / "holidays.yaml")


# -- working days ------------------------------------------------------------------------------

def test_tet_2026_is_skipped(cal):
    # Friday 13/02/2026, 3 working days: Tết runs 14–22/02, so counting starts Monday 23/02.
    assert due_date(datetime(2026, 2, 13, 10), 3, "working_days", cal) == date(2026, 2, 25)
    assert not cal.is_working_day(date(2026, 2, 17))  # mùng 1 Tết Bính Ngọ


def test_tet_2025_and_make_up_saturday(cal):
    assert due_date(datetime(2025, 1, 24, 9), 5, "working_days", cal) == date(2025, 2, 7)
    # Saturday 26/04/2025 is a make-up working day for Friday 02/05.
    assert cal.is_working_day(date(2025, 4, 26))
    assert due_date(datetime(2025, 4, 24, 9), 3, "working_days", cal) == date(2025, 4, 28)
    assert due_date(datetime(2025, 4, 28, 9), 3, "working_days", cal) == date(2025, 5, 6)


def test_weekend_receipt_counts_from_monday(cal):
    # Saturday 21/11/2026 → effective Monday 23/11; 2 working days → Wednesday 25/11.
    assert due_date(datetime(2026, 11, 21, 9), 2, "working_days", cal) == date(2026, 11, 25)


def test_afternoon_rule_only_when_given(cal):
    after = datetime(2026, 11, 24, 15, 30)
    assert due_date(after, None, "same_day", cal, cutoff=time(15)) == date(2026, 11, 25)
    assert due_date(datetime(2026, 11, 24, 14, 59), None, "same_day", cal, cutoff=time(15)) == date(2026, 11, 24)
    assert due_date(after, 1, "working_days", cal) == date(2026, 11, 25)
    assert due_date(after, 1, "working_days", cal, cutoff=time(15)) == date(2026, 11, 26)


def test_calendar_days_end_on_a_working_day(cal):
    # 10/02/2026 + 7 days = 17/02 (Tết) → first working day after: 23/02.
    assert due_date(datetime(2026, 2, 10, 9), 7, "days", cal) == date(2026, 2, 23)
    assert due_date(datetime(2026, 2, 10, 9), None, "unknown", cal) is None


def test_working_days_between(cal):
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 25)) == 3
    assert cal.working_days_between(date(2026, 2, 25), date(2026, 2, 13)) == -3


def test_bad_holiday_file(tmp_path):
    bad = tmp_path / "h.yaml"
    bad.write_text("years:\n  2026:\n    holidays:\n      - {date: 2026-13-01}\n", encoding="utf-8")
    with pytest.raises(HolidayFileError, match="not valid"):
        load_calendar(bad)
    bad.write_text("years:\n  2026:\n    holidays:\n      - {name: x}\n", encoding="utf-8")
    with pytest.raises(HolidayFileError, match=r"years.2026.holidays\[0\]"):
        load_calendar(bad)
    with pytest.raises(HolidayFileError, match="not found"):
        load_calendar(tmp_path / "none.yaml")


# -- the register ------------------------------------------------------------------------------

@pytest.fixture
def register(tmp_path, cal):
    conn = connect(tmp_path / "centre.db")
    ensure_schema(conn)
    conn.execute("INSERT INTO fields(id, name_vi, name_en) VALUES ('ho-tich', 'Hộ tịch', 'Civil status')")
    conn.execute(
        "INSERT INTO procedures(key, code, name, official_name, field_id, processing_value, processing_unit, "
        "processing_text) VALUES ('1.001193', '1.001193', 'Đăng ký khai sinh', 'Thủ tục đăng ký khai sinh', "
        "'ho-tich', 1, 'working_days', '1 Ngày làm việc')")
    columns = {"code": "Mã hồ sơ", "procedure_code": "Mã thủ tục", "applicant_name": "Người nộp",
               "applicant_phone": "Số điện thoại", "received_at": "Ngày tiếp nhận", "due_at": "Ngày hẹn trả",
               "state": "Trạng thái", "counter": "Quầy", "officer": "Cán bộ xử lý",
               "missing_documents": "Giấy tờ cần bổ sung"}
    reg = Dossiers(conn, cal, tz=__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh"), column_map=columns)
    yield reg
    conn.close()


def test_import_reports_bad_rows_and_keeps_good_ones(register):
    report = register.import_file(EXPORT)
    assert (report.inserted, report.updated, report.unchanged) == (4, 0, 0)
    reasons = {e.line: e.reason for e in report.errors}
    assert reasons[5].startswith("code:")            # empty receipt code
    assert reasons[6].startswith("received_at:")     # "ngày mai" is not a date
    assert reasons[7].startswith("state:")           # unknown state wording
    assert reasons[8].startswith("due_at: before")   # due before receipt
    d = register.get("000.00.19.H29-260213-0001")
    assert d.due_at == date(2026, 2, 23) and d.due_source == "computed"  # first working day after Tết
    assert d.state == "processing" and d.procedure_name == "Đăng ký khai sinh"
    # Received Friday 13/02 at 16:10: not a same-day procedure, no 15:00 rule in its text.
    assert register.get("000.00.19.H29-260213-0002").due_at == date(2026, 2, 23)
    third = register.get("000.00.19.h29-260210-0003 ")
    assert third.due_at == date(2026, 2, 27) and third.due_source == "platform"
    assert third.missing_documents == ["Bản sao giấy chứng nhận kết hôn", "Tờ khai theo mẫu"]


def test_reimport_is_idempotent_and_records_state_changes(register, tmp_path):
    register.import_file(EXPORT)
    again = register.import_file(EXPORT)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    changed = tmp_path / "changed.csv"
    changed.write_text(EXPORT.read_text(encoding="utf-8").replace("Đang xử lý,1,cb.hoa,\n000.00.19.H29-260213-0002",
                                                                 "Đã có kết quả,1,cb.hoa,\n000.00.19.H29-260213-0002", 1),
                       encoding="utf-8")
    rep = register.import_file(changed)
    assert rep.updated == 1
    assert [h["state"] for h in register.history("000.00.19.H29-260213-0001")] == ["processing", "ready"]


def test_json_import_uses_our_field_names(register, tmp_path):
    f = tmp_path / "push.json"
    f.write_text(json.dumps({"dossiers": [
        {"code": "X-1", "procedure_code": "1.001193", "applicant_name": "Lý Thị Mai",
         "received_at": "2026-11-24T15:30:00+07:00", "state": "received"},
        "not an object",
    ]}), encoding="utf-8")
    rep = register.import_file(f)
    assert rep.inserted == 1 and rep.errors[0].line == 2
    assert register.get("x-1").due_at == date(2026, 11, 25)


def test_unknown_format_and_missing_code_column(register, tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    with pytest.raises(ImportFileError, match="unknown format"):
        register.import_file(tmp_path / "a.pdf")
    with pytest.raises(ImportFileError, match="not found"):
        register.import_file(tmp_path / "none.csv")
    f = tmp_path / "nocode.csv"
    f.write_text("Tên,Ngày\nA,01/01/2026\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="receipt code"):
        register.import_file(f)


def test_public_lookup_is_masked_and_exact(register):
    register.import_file(EXPORT)
    pub = register.lookup_public("000.00.19.H29-260210-0003", today=date(2026, 2, 26))
    assert pub.applicant == "L. V. C."
    text = json.dumps(pub.to_dict(), ensure_ascii=False)
    assert "Lê Văn Cường" not in text and "0900000003" not in text
    assert pub.next_action == "supplement" and pub.missing_documents and not pub.late
    ready = register.lookup_public("000.00.19.H29-260105-0008", today=date(2026, 2, 26))
    assert ready.next_action == "pickup" and ready.counter == "2" and not ready.late
    # One wrong character: not found, never a near neighbour.
    assert register.lookup_public("000.00.19.H29-260210-0004") is None
    assert register.lookup_public("000.00.19.H29-260210-000") is None
    assert register.lookup_public("") is None
    assert register.lookup_public("' OR 1=1 --") is None


def test_lookup_accepts_the_code_as_copied_from_a_receipt(register):
    """Spaces, dashes for dots, typographic dashes, lower case, no separators at all: the same
    dossier. Only separators, case and width are ignored: a wrong character is still not found."""
    register.import_file(EXPORT)
    code = "000.00.19.H29-260210-0003"
    for typed in ("000 . 00 . 19 . H29 - 260210 - 0003", "000 00 19 H29 260210 0003", "000-00-19-h29-260210-0003",
                  "000.00.19.H29\u2013260210\u20130003", "0000019H292602100003", "000.00.19.H29/260210/0003",
                  "\uff10\uff10\uff10.00.19.H29-260210-0003", " 000.00.19.H29_260210_0003 "):
        pub = register.lookup_public(typed, today=date(2026, 2, 26))
        assert pub is not None and pub.code == code, typed
        assert register.get(typed).code == code and register.history(typed), typed
    for wrong in ("000 00 19 H29 260210 0004", "00 00 19 H29 260210 0003", "000.00.19.H29-260210-003",
                  "000.00.19.H29-260210-00030", "260210-0003", "-.-", "000.00.19.H2-9260210-0003x"):
        assert register.lookup_public(wrong) is None, wrong


def test_codes_that_differ_only_by_separators_are_never_guessed(register):
    """Two stored codes with the same characters in other groups: the exact code finds each one,
    the separator-free form finds neither (never a guess between two people's dossiers)."""
    register.upsert_many([(1, {"code": "12-345", "received_at": "2026-02-10 09:00"}),
                          (2, {"code": "123-45", "received_at": "2026-02-10 09:00"})], source="t")
    assert register.get("12 - 345").code == "12-345" and register.get("123-45").code == "123-45"
    assert register.get("12345") is None and register.get("1.2.3.4.5") is None


def test_dossiers_stored_before_code_keys_are_found_by_a_spaced_code(tmp_path, cal):
    """A database from before migration 3 (and rows written by plain SQL) get their code_key on start-up."""
    from zoneinfo import ZoneInfo

    from centre.db import migrate
    from centre.dossiers import MIGRATIONS

    conn = connect(tmp_path / "old.db")
    ensure_schema(conn)
    migrate(conn, "dossiers", MIGRATIONS[:2])
    conn.execute("INSERT INTO dossiers(code, received_at, state, updated_at) "
                 "VALUES ('000.00.19.H29-260210-0003', '2026-02-10T09:00', 'received', '2026-02-10T09:00')")
    reg = Dossiers(conn, cal, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert reg.get("000 00 19 H29 260210 0003").code == "000.00.19.H29-260210-0003"
    conn.close()


def test_due_and_digest(register):
    register.import_file(EXPORT)
    due = register.due(within_working_days=2, today=date(2026, 2, 25))
    assert [d.code for d in due["late"]] == ["000.00.19.H29-260213-0001", "000.00.19.H29-260213-0002"]
    assert [d.code for d in due["due_soon"]] == ["000.00.19.H29-260210-0003"]
    dig = register.digest(day=date(2026, 2, 25))
    assert dig["late"] == 2 and dig["due_soon"] == 1
    assert dig["late_by_officer"] == {"cb.hoa": 2}
    assert dig["by_state"]["ready"] == 1


def test_masking_helpers_and_states():
    assert mask_name("Nguyễn Văn An") == "N. V. A."
    # Initials only: names of other lengths mask alike, so the shape gives nothing away.
    assert mask_name("Nguyễn Văn An") == mask_name("Ngô Viết Anh") == mask_name("nguyễn  vĩnh   an")
    assert mask_name("Đặng Thị Ễnh") == "Đ. T. Ễ."
    assert mask_name("Đặng Thị E\u0302\u0303nh") == "Đ. T. Ễ."  # decomposed (NFD) input
    assert mask_name("Trần - Bình") == "T. B." and mask_name("") == "" and mask_name(None) == ""
    assert mask_phone("0912 345 678") == "*******678"
    assert parse_state("ĐÃ TRẢ KẾT QUẢ") == "returned"
    assert parse_state("supplement_requested") == "supplement_requested"
    with pytest.raises(DossierError):
        parse_state("???")


def test_cli_import_show_due(tmp_config, tmp_path):
    cfg_file = tmp_path / "config.yaml"
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/centre.db"')
    text = text.replace('holidays: "data/holidays.yaml"', f'holidays: "{ROOT}/data/holidays.yaml"')
    cfg_file.write_text(text, encoding="utf-8")

    def kiosk(*args):
        return subprocess.run([sys.executable, "-m", "kiosk", "--config", str(cfg_file), "dossier", *args],
                              capture_output=True, text=True)

    out = kiosk("import", str(EXPORT), "--json")
    assert out.returncode == 1  # some rows were rejected
    rep = json.loads(out.stdout)
    assert rep["inserted"] == 4 and len(rep["errors"]) == 4
    show = kiosk("show", "000.00.19.H29-260213-0001", "--json")
    assert show.returncode == 0 and "Nguyễn Văn An" not in show.stdout and "N. V. A." in show.stdout
    spaced = kiosk("show", "000 . 00 . 19 . H29 - 260213 - 0001", "--json")  # as copied from the receipt
    assert spaced.returncode == 0 and json.loads(spaced.stdout)["code"] == "000.00.19.H29-260213-0001"
    missing = kiosk("show", "000.00.19.H29-260213-9999")
    assert missing.returncode == 2 and "no dossier" in missing.stderr
    due = kiosk("due", "--days", "2", "--json")
    assert due.returncode == 0 and set(json.loads(due.stdout)) == {"late", "due_soon"}


def test_afternoon_rule_read_from_procedure_text(register):
    register.conn.execute(
        "INSERT INTO procedures(key, code, name, official_name, field_id, processing_value, processing_unit, "
        "submission_json) VALUES ('1.011441', '1.011441', 'Đăng ký biện pháp bảo đảm', 'x', 'ho-tich', 3, "
        "'working_days', ?)",
        (json.dumps(["nếu thời điểm nhận hồ sơ sau 15 giờ cùng ngày thì ... ngày làm việc tiếp theo"], ensure_ascii=False),))
    # Tuesday 24/11/2026: before 15:00 → Friday 27/11; after 15:00 → Monday 30/11.
    assert register.compute_due("1.011441", datetime(2026, 11, 24, 14, 0)) == date(2026, 11, 27)
    assert register.compute_due("1.011441", datetime(2026, 11, 24, 15, 5)) == date(2026, 11, 30)
    # The birth registration row has no such sentence: after 15:00 changes nothing.
    assert register.compute_due("1.001193", datetime(2026, 11, 24, 15, 5)) == date(2026, 11, 25)
    assert register.compute_due("9.999999", datetime(2026, 11, 24, 9)) is None


# -- channel and digitisation (issue 17) ------------------------------------------------------

def test_channel_and_digitised_are_imported_with_the_configured_columns(tmp_path, cal, project_config):
    """The platform's export says how a dossier was submitted and whether it was digitised; the
    column names come from config.yaml (dossiers.import_columns), the online words too."""
    from centre.dossiers import parse_channel, parse_flag

    conn = connect(tmp_path / "centre.db")
    reg = Dossiers(conn, cal, tz=__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh"),
                   column_map=project_config.dossiers.import_columns,
                   online_values=project_config.dossiers.online_values)
    f = tmp_path / "export.csv"
    f.write_text(
        "Mã hồ sơ,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái,Hình thức nộp,Đã số hóa\n"
        "H1,02/03/2026 09:00,05/03/2026,Mới tiếp nhận,Trực tuyến,Có\n"
        "H2,02/03/2026 09:10,05/03/2026,Mới tiếp nhận,Trực tiếp,Không\n"
        "H3,02/03/2026 09:20,05/03/2026,Mới tiếp nhận,Bưu chính,x\n"
        "H4,02/03/2026 09:30,05/03/2026,Mới tiếp nhận,,\n"
        "H5,02/03/2026 09:40,05/03/2026,Mới tiếp nhận,bồ câu,1\n"
        "H6,02/03/2026 09:50,05/03/2026,Mới tiếp nhận,Dịch vụ công trực tuyến toàn trình,có lẽ\n",
        encoding="utf-8")
    rep = reg.import_file(f)
    assert rep.inserted == 4 and [e.line for e in rep.errors] == [6, 7]
    assert "channel" in rep.errors[0].reason and "digitised" in rep.errors[1].reason
    got = {c: (reg.get(c).channel, reg.get(c).digitised) for c in ("H1", "H2", "H3", "H4")}
    assert got == {"H1": ("online", True), "H2": ("in_person", False), "H3": ("postal", True), "H4": ("", None)}
    # a changed channel is an update, an unchanged row is not
    f.write_text("Mã hồ sơ,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái,Hình thức nộp,Đã số hóa\n"
                 "H1,02/03/2026 09:00,05/03/2026,Mới tiếp nhận,Trực tuyến,Có\n"
                 "H2,02/03/2026 09:10,05/03/2026,Mới tiếp nhận,Trực tuyến,Không\n", encoding="utf-8")
    rep = reg.import_file(f)
    assert (rep.unchanged, rep.updated) == (1, 1) and reg.get("H2").channel == "online"
    assert parse_channel("ONLINE") == "online" and parse_channel("Tại bộ phận một cửa") == "in_person"
    assert parse_flag(True) == 1 and parse_flag(0) == 0 and parse_flag(None) is None


def test_an_old_register_gains_the_new_columns(tmp_path, cal):
    """A centre installed before issue 17 has dossiers without channel/digitised: migration 2 adds them."""
    from centre.db import migrate
    from centre.dossiers import MIGRATIONS

    conn = connect(tmp_path / "centre.db")
    migrate(conn, "dossiers", MIGRATIONS[:1])
    conn.execute("INSERT INTO dossiers(code, received_at, state, updated_at) VALUES ('OLD', '2026-01-05T08:00', "
                 "'received', '2026-01-05T08:00')")
    reg = Dossiers(conn, cal, tz=__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh"))
    d = reg.get("OLD")
    assert (d.channel, d.digitised) == ("", None)

"""Cleaning rules of the portal data (issue 3, item 5), each on real examples from the crawl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from centre.catalogue_import import (
    clean_portal_record,
    display_name,
    export_national,
    field_id,
    mark_crawl_duplicates,
    name_from_result,
    parse_document,
    parse_duration,
    parse_fee,
    parse_legal_basis,
    parse_processing,
    split_documents,
    split_form_file,
)

DATA = Path(__file__).parent / "data" / "catalogue"


# -- names and field ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    "official, shown",
    [
        ("Thủ tục đăng ký khai sinh", "Đăng ký khai sinh"),
        ("Thủ tục cấp Giấy xác nhận tình trạng hôn nhân", "Cấp Giấy xác nhận tình trạng hôn nhân"),
        ("Đăng ký lại khai tử", "Đăng ký lại khai tử"),  # no prefix: unchanged
        ("thủ tục  đăng ký kết hôn ", "Đăng ký kết hôn"),  # case and spaces
        ("Thủ tục", "Thủ tục"),  # never an empty name
    ],
)
def test_display_name_drops_the_portal_prefix(official, shown):
    assert display_name(official) == shown


@pytest.mark.parametrize(
    "name, fid",
    [
        ("Hộ tịch", "ho-tich"),
        ("Đất đai", "dat-dai"),
        ("Thu BHXH, BHYT, BHTN, BH tai nạn lao động, BNN", "thu-bhxh-bhyt-bhtn-bh-tai-nan-lao-dong-bnn"),
        (
            "Thành lập và hoạt động doanh nghiệp (hộ kinh doanh)",
            "thanh-lap-va-hoat-dong-doanh-nghiep-ho-kinh-doanh",
        ),
    ],
)
def test_field_id_is_the_folded_slug(name, fid):
    assert field_id(name) == fid


def test_publication_title_name_is_replaced_by_the_result():
    official = (
        "Công bố Danh mục và Quy trình nội bộ thủ tục hành chính thuộc thẩm quyền giải quyết của Sở Nội vụ về "
        "thực hiện một số chính sách đảm bảo an sinh xã hội trên địa bàn tỉnh Hà Tĩnh giai đoạn 2026 - 2030"
    )
    result = (
        "Quyết định về việc giải quyết chế độ trợ cấp hàng tháng đối với thanh niên xung phong"
        "Mã: KQ.G09.000452Từ khóaKhông có thông tinMô tảKhông có thông tin"
    )
    assert (
        name_from_result(official, result)
        == "Giải quyết chế độ trợ cấp hàng tháng đối với thanh niên xung phong"
    )
    assert name_from_result("Thủ tục đăng ký khai sinh", "Giấy khai sinh") == "Đăng ký khai sinh"


def test_crawl_duplicates_keep_the_first_code():
    url = "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019dd30d-0166-77b0-bc90-1237ac947345"
    recs = [
        {"code": "3.000224", "portal_url": url},
        {"code": "1.002544", "portal_url": url},
        {"code": "2.001709", "portal_url": url},
        {"code": "1.001193", "portal_url": "https://dichvucong.gov.vn/other"},
    ]
    assert mark_crawl_duplicates(recs) == 2
    assert [r.get("crawl_duplicate_of", "") for r in recs] == ["1.002544", "", "1.002544", ""]


# -- processing time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value, unit, assumed",
    [
        ("3 Ngày làm việc", 3, "working_days", False),
        ("15 Ngày", 15, "days", False),
        ("8 Giờ", 8, "hours", False),
        ("1", 1, "working_days", True),  # bare number as the portal shows it: working days, flagged
        ("7", 7, "working_days", True),
        ("0", None, "unknown", False),  # no time entered
        ("Không có thông tin", None, "unknown", False),
        ("", None, "unknown", False),
        ("khoảng một tuần", None, "unknown", False),  # unparseable text stays unknown, text kept
    ],
)
def test_parse_duration(text, value, unit, assumed):
    d = parse_duration(text)
    assert (d["value"], d["unit"], bool(d.get("assumed_unit"))) == (value, unit, assumed)
    assert d["text"] == text.strip()


def test_processing_per_channel_headline_is_in_person():
    p = parse_processing("Trực tuyến, Dịch vụ bưu chính: 7 Ngày; Trực tiếp: 17 Ngày")
    assert p["text"] == "Trực tuyến, Dịch vụ bưu chính: 7 Ngày; Trực tiếp: 17 Ngày"
    assert (p["value"], p["unit"]) == (17, "days")
    assert [(c["channel"], c["value"], c["unit"]) for c in p["channels"]] == [
        ("Trực tuyến", 7, "days"),
        ("Dịch vụ bưu chính", 7, "days"),
        ("Trực tiếp", 17, "days"),
    ]


def test_processing_several_cases_of_one_channel_headline_is_the_longest():
    p = parse_processing("Trực tiếp: 7 Ngày làm việc; Trực tiếp: 1 Giờ; Trực tiếp: 2 Ngày làm việc")
    assert (p["value"], p["unit"]) == (7, "working_days")
    assert len(p["channels"]) == 3


def test_processing_mixed_units_and_bare_numbers_per_channel():
    p = parse_processing("Trực tuyến: 5; Trực tiếp: 30")
    assert (p["value"], p["unit"], p.get("assumed_unit")) == (30, "working_days", True)
    p = parse_processing("Trực tuyến: 1 Ngày; Trực tiếp: 1 Giờ")
    assert (p["value"], p["unit"]) == (1, "hours")


def test_processing_without_in_person_channel_uses_the_others():
    p = parse_processing("Dịch vụ bưu chính: 30 Ngày")
    assert (p["value"], p["unit"]) == (30, "days")


# -- fee --------------------------------------------------------------------------------------


def test_fee_amount_and_note():
    f = parse_fee("70,000 VNĐ (70.000 đồng/Giấy chứng nhận)")
    assert (f["amount"], f["note"]) == (70000, "70.000 đồng/Giấy chứng nhận")
    f = parse_fee("50,000 Việt Nam Đồng (/giao dịch)")
    assert (f["amount"], f["note"]) == (50000, "/giao dịch")


def test_fee_free_is_zero_with_its_note():
    assert parse_fee("Miễn phí")["amount"] == 0
    f = parse_fee(
        "Miễn phí (Không thu lệ phí đăng ký đối với tổ hợp tác theo quy định tại khoản 2 Điều 22 Luật Hợp tác xã 2023.)"
    )
    assert f["amount"] == 0 and f["note"].startswith("Không thu lệ phí đăng ký đối với tổ hợp tác")
    assert parse_fee("Miễn phí (Không)")["note"] == ""


def test_fee_free_but_province_sets_it_is_unknown_not_zero():
    """The portal's 'Miễn phí' with 'the People's Council sets the fee' does not mean free."""
    f = parse_fee(
        "Miễn phí (Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh, thành phố trực thuộc Trung ương quyết định. "
        "Miễn lệ phí cho người thuộc gia đình có công với cách mạng; người thuộc hộ nghèo; người khuyết tật.)"
    )
    assert f["amount"] is None and f["set_by_province"] is True
    assert f["note"].startswith("Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh")
    assert not f["note"].startswith("(")


@pytest.mark.parametrize(
    "note",
    [
        "Theo quy định của Luật phí và lệ phí và các văn bản quy phạm pháp luật hướng dẫn Luật phí và lệ phí.",
        "Thông tư số 60/2023/TT-BTC ngày 07/9/2023 của Bộ Tài chính quy định mức thu, chế độ thu, nộp, quản lý lệ phí đăng ký, cấp biển số phương tiện giao thông cơ giới đường bộ",
        "Trả phí cho đơn vị cung cấp dịch vụ.",
        "Từ ngày 01/7/2025 đến hết ngày 31/12/2026 áp dụng theo quy định tại Thông tư số 64/2025/TT-BTC ngày 30/6/2025",
    ],
)
def test_fee_free_but_set_by_another_rule_is_unknown(note):
    f = parse_fee(f"Miễn phí ({note})")
    assert f["amount"] is None and f["set_elsewhere"] is True and f["note"] == note


def test_fee_free_with_an_optional_copy_fee_is_zero():
    f = parse_fee(
        "Miễn phí (Phí cấp bản sao Trích lục đăng ký giám hộ (nếu có yêu cầu) thực hiện theo quy định tại "
        "Thông tư số 281/2016/TT-BTC ngày 14/11/2016 của Bộ Tài chính.)"
    )
    assert f["amount"] == 0 and f["note"].startswith("Phí cấp bản sao")
    assert (
        parse_fee("Miễn phí (Miễn lệ phí. Phí cấp bản sao Trích lục kết hôn (nếu có yêu cầu))")["amount"] == 0
    )


def test_fee_stray_label_prefix_removed():
    f = parse_fee("Miễn phí (Lệ phí : Đồng (- Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh quyết định.))")
    assert f["note"] == "- Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh quyết định." and f["amount"] is None


def test_fee_unknown():
    assert (
        parse_fee("Trực tiếp: Không có thông tin (1); Trực tuyến: Không có thông tin (2)")["amount"] is None
    )
    f = parse_fee("Không có thông tin")
    assert f["amount"] is None and f["note"] == ""


def test_fee_per_channel_prefers_in_person_vnd():
    text = (
        "Trực tuyến: 5,000 Việt Nam Đồng (Trường hợp công dân nộp hồ sơ qua cổng dịch vụ công trực tuyến thu 5.000 đồng/lần đăng ký.); "
        "Trực tiếp: 10,000 Việt Nam Đồng (Trường hợp công dân nộp hồ sơ trực tiếp thu 10.000 đồng/lần đăng ký;)"
    )
    f = parse_fee(text)
    assert f["amount"] == 10000
    assert [(c["channel"], c["amount"]) for c in f["channels"]] == [
        ("Trực tuyến", 5000),
        ("Trực tiếp", 10000),
    ]
    f = parse_fee("Trực tiếp: 2,000 Việt Nam Đồng (/trang); Trực tiếp: 10 USD (/bản)")
    assert f["amount"] == 2000
    assert f["channels"][1]["currency"] == "USD" and f["channels"][1]["amount"] == 10


def test_fee_nested_parentheses_and_stray_dong_wrapper():
    f = parse_fee("Trực tuyến: Miễn phí (Đồng (Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh quyết định.))")
    assert f["channels"][0]["note"] == "Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh quyết định."


# -- documents -----------------------------------------------------------------------------


def test_document_groups_and_counts():
    d = parse_document("[* Giấy tờ phải nộp:] - Tờ khai đăng ký khai sinh theo mẫu quy định. (1 bản chính)")
    assert (d["kind"], d["group"], d["text"], d["originals"], d["copies"]) == (
        "document",
        "submit",
        "Tờ khai đăng ký khai sinh theo mẫu quy định.",
        1,
        0,
    )
    d = parse_document(
        "[* Giấy tờ phải xuất trình:] - Bản sao giấy tờ chứng minh nhân thân, giấy tờ chứng minh nơi thường trú "
        "ở khu vực biên giới của công dân nước láng giềng. (1 bản chính)"
    )
    assert (d["kind"], d["group"]) == ("document", "show")
    d = parse_document(
        "Giấy tờ chứng minh thuộc đối tượng được ghi nợ tiền sử dụng đất (0 bản chính,1 bản sao)"
    )
    assert (d["kind"], d["originals"], d["copies"]) == ("document", 0, 1)


def test_zero_original_rows_are_notes():
    d = parse_document(
        "[* Giấy tờ phải nộp:] - Chứng cứ chứng minh quan hệ cha, con hoặc quan hệ mẹ, con gồm: (0 bản chính)"
    )
    assert d["kind"] == "note"
    d = parse_document(
        "[* Lưu ý:] - Giấy tờ do cơ quan có thẩm quyền của nước ngoài cấp phải được hợp pháp hóa lãnh sự. (1 bản chính)"
    )
    assert d["kind"] == "note"


def test_case_heading_is_kept():
    d = parse_document("[Trường hợp ủy quyền thực hiện thủ tục:] Văn bản ủy quyền (1 bản chính)")
    assert d["heading"] == "Trường hợp ủy quyền thực hiện thủ tục:" and d["group"] == "submit"


@pytest.mark.parametrize(
    "row, text_end, file",
    [
        (
            "Tờ khai thay đổi thông tin cư trú (Mẫu CT01 ban hành kèm theo Thông tư số 53/2025/TT-BCA).1.MuCT01banhnhkmtheoThngts53 (3).doc",
            "TT-BCA).",
            "1.MuCT01banhnhkmtheoThngts53 (3).doc",
        ),
        (
            "Phiếu khai báo tạm trú cho người nước ngoài (mẫu NA17)101-Mau A17 tam tru cho nguoi nuoc ngoai.doc",
            "(mẫu NA17)",
            "101-Mau A17 tam tru cho nguoi nuoc ngoai.doc",
        ),
        (
            "Giấy đề nghị rà soát hộ nghèo, hộ cận nghèo theo Mẫu số 01 tại Phụ lục ban hành kèm theo Quyết định số 24/2021/QĐ-TTgGiấy đề nghị.pdf",
            "QĐ-TTg",
            "Giấy đề nghị.pdf",
        ),
        (
            "Đơn đề nghị cấp giấy phép chặt hạ, dịch chuyển cây xanh theo Mẫu số 01 Phụ lục I của Nghị định số 258/2025/NĐ-CPMẫu số 01.docx",
            "NĐ-CP",
            "Mẫu số 01.docx",
        ),
        (
            "Bản chính Văn bản đề nghị theo quy địnhvăn bản đề nghị.docx",
            "theo quy định",
            "văn bản đề nghị.docx",
        ),
        (
            "Giấy khai đăng ký xe (mẫu ĐKX10/79 ban hành kèm theo Thông tư số 13/2025/TT-BCA ngày 28/02/2025 của Bộ trưởng Bộ Công an).MauKX1079.docx",
            "Bộ Công an).",
            "MauKX1079.docx",
        ),
        (
            "Đơn đề nghị của người lao động (Mẫu số 01 ban hành kèm theo Nghị định số 40/2024/NĐ-CP).Mẫu số 01 - Đề nghị thanh toán khám chữa bệnh (NĐ 40.2024).docx",
            "40/2024/NĐ-CP).",
            "Mẫu số 01 - Đề nghị thanh toán khám chữa bệnh (NĐ 40.2024).docx",
        ),
        ("Tờ khai đăng ký khai sinh theo mẫu quy định.", "theo mẫu quy định.", ""),  # no file
    ],
)
def test_glued_form_file_names_are_pulled_out(row, text_end, file):
    text, got = split_form_file(row)
    assert got == file
    assert text.endswith(text_end)


def test_split_documents_collects_forms_and_notes():
    rows = [
        "[* Giấy tờ phải nộp:] - Đơn  xin  nhận con nuôi;1.nxinnhnconnui.doc (1 bản chính)",
        "[* Lưu ý:] - Đối với giấy tờ nộp, xuất trình nếu người yêu cầu nộp hồ sơ theo hình thức trực tiếp: (0 bản chính)",
        "[* Giấy tờ phải xuất trình:] - Giấy tờ tùy thân (1 bản chính)",
    ]
    docs, notes, forms = split_documents(rows)
    assert [d["group"] for d in docs] == ["submit", "show"]
    assert docs[0]["text"] == "Đơn xin nhận con nuôi" and docs[0]["form"] == "1.nxinnhnconnui.doc"
    assert forms == [{"name": "Đơn xin nhận con nuôi", "file": "1.nxinnhnconnui.doc"}]
    assert notes == ["Đối với giấy tờ nộp, xuất trình nếu người yêu cầu nộp hồ sơ theo hình thức trực tiếp:"]


# -- legal basis ------------------------------------------------------------------------------


def test_legal_basis_title_and_number():
    got = parse_legal_basis(
        ["Nghị định quy định về Cơ sở dữ liệu hộ tịch điện tử, đăng ký hộ tịch trực tuyến [87/2020/NĐ-CP]"]
    )
    assert got == [
        {
            "title": "Nghị định quy định về Cơ sở dữ liệu hộ tịch điện tử, đăng ký hộ tịch trực tuyến",
            "number": "87/2020/NĐ-CP",
        }
    ]


@pytest.mark.parametrize(
    "entry, expected",
    [
        (
            "Luật Cư trú 202068/2020/QH14Thông tư [57/2021/TT-BCA]",
            [
                {"title": "Luật Cư trú 2020", "number": "68/2020/QH14"},
                {"title": "Thông tư", "number": "57/2021/TT-BCA"},
            ],
        ),
        (
            "Luật Hòa giải ở cơ sở năm 201335/2013/QH13",
            [{"title": "Luật Hòa giải ở cơ sở năm 2013", "number": "35/2013/QH13"}],
        ),
        (
            "Nghị định số 40/2026/NĐ-CP ngày 25/01/202640/2026/NĐ-CPLuật sửa đổi, bổ sung một số điều của 15 luật trong lĩnh vực "
            "nông nghiệp và môi trườngLuật số [146/2025/QH15]",
            [
                {"title": "Nghị định số 40/2026/NĐ-CP ngày 25/01/2026", "number": "40/2026/NĐ-CP"},
                {
                    "title": "Luật sửa đổi, bổ sung một số điều của 15 luật trong lĩnh vực nông nghiệp và môi trường",
                    "number": "146/2025/QH15",
                },
            ],
        ),
        (
            "BAN HÀNH QUY TRÌNH GIẢI QUYẾT HƯỞNG CÁC CHẾ ĐỘ BẢO HIỂM XÃ HỘI2222/QĐ-BHXHVề việc trợ cấp hàng tháng613/QĐ-TTg",
            [
                {
                    "title": "BAN HÀNH QUY TRÌNH GIẢI QUYẾT HƯỞNG CÁC CHẾ ĐỘ BẢO HIỂM XÃ HỘI",
                    "number": "2222/QĐ-BHXH",
                },
                {"title": "Về việc trợ cấp hàng tháng", "number": "613/QĐ-TTg"},
            ],
        ),
        (
            # a type label glued after the title belongs to it
            "Thông tư số 03/2023/TT-BTP ngày 02/8/2023 của Bộ trưởng Bộ Tư phápThông tư số [03/2023/TT-BTP]",
            [
                {
                    "title": "Thông tư số 03/2023/TT-BTP ngày 02/8/2023 của Bộ trưởng Bộ Tư pháp",
                    "number": "03/2023/TT-BTP",
                }
            ],
        ),
        ("280/2025/NĐ-CP", [{"title": "", "number": "280/2025/NĐ-CP"}]),  # a number without a title
        (
            "Luật số 58/2024/QH15 của Quốc hội: Luật Đầu tư côngLuật số 58",  # truncated repeat dropped
            [{"title": "Luật số 58/2024/QH15 của Quốc hội: Luật Đầu tư công", "number": "58/2024/QH15"}],
        ),
        (
            "Cơ quan thực hiệnTòa án nhân dân tỉnh, thành phố trực thuộc trung ương",
            [],
        ),  # not a legal document
    ],
)
def test_legal_basis_run_together_entries_are_split(entry, expected):
    assert parse_legal_basis([entry]) == expected


def test_legal_basis_duplicates_removed():
    e = "Nghị định [42/2020/NĐ-CP]"
    assert len(parse_legal_basis([e, e])) == 1


# -- whole records and the real file -------------------------------------------------------------


def test_clean_portal_record_real_birth_registration():
    raw = next(
        json.loads(line)
        for line in (DATA / "portal-sample.jsonl").read_text(encoding="utf-8").splitlines()
        if '"1.001193"' in line
    )
    rec = clean_portal_record(raw)
    assert rec["code"] == "1.001193"
    assert rec["name"] == "Đăng ký khai sinh" and rec["official_name"] == "Thủ tục đăng ký khai sinh"
    assert rec["field_id"] == "ho-tich"
    assert rec["processing"]["unit"] == "working_days" and rec["processing"]["assumed_unit"] is True
    assert rec["fee"]["amount"] == 0
    assert any(d["group"] == "show" for d in rec["documents"]) and any(
        d["group"] == "submit" for d in rec["documents"]
    )
    assert all(d["originals"] + d["copies"] > 0 for d in rec["documents"])
    assert all(lb["number"] or lb["title"] for lb in rec["legal_basis"])
    assert "Mã: KQ" not in rec["result"]


def test_export_of_the_real_portal_file(tmp_path):
    portal = Path("/work/shared/data/procedures-national-portal.jsonl")
    if not portal.exists():
        pytest.skip("shared portal data not present on this machine")
    out = tmp_path / "national.jsonl"
    assert export_national(portal, out) == 353
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert (
        sum(1 for r in recs if r.get("crawl_duplicate_of")) == 15
    )  # two portal pages crawled under 7 and 10 codes
    assert not any(r["name"].startswith("Công bố Danh mục") for r in recs)
    assert not any(r["name"].lower().startswith("thủ tục ") for r in recs)
    units = {r["processing"]["unit"] for r in recs}
    assert units <= {"working_days", "days", "hours", "same_day", "unknown"}
    assert sum(1 for r in recs if r["processing"]["unit"] == "unknown") < 30
    docs = [d for r in recs for d in r["documents"]]
    assert all(d["originals"] + d["copies"] > 0 for d in docs)  # (0 bản chính) rows went to notes
    assert sum(len(r["forms"]) for r in recs) > 100
    lb = [x for r in recs for x in r["legal_basis"]]
    assert sum(1 for x in lb if x["number"]) / len(lb) > 0.98
    # the committed national.jsonl is exactly what the cleaner makes (no hand edits)
    committed = Path(__file__).resolve().parent.parent / "data" / "procedures" / "national.jsonl"
    assert committed.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")

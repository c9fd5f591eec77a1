"""Documents everyone needs come before edge cases (the portal lists 'Trường hợp…' rows first)."""

from centre.catalogue import Document, _everyone_first


def doc(text: str, heading: str = "Giấy tờ phải nộp:") -> Document:
    return Document(group="submit", text=text, originals=1, copies=0, heading=heading)


def test_edge_cases_after_what_everyone_needs():
    docs = [
        doc("Trường hợp trẻ em bị bỏ rơi thì phải có biên bản"),
        doc("Văn bản ủy quyền theo quy định trong trường hợp ủy quyền thực hiện"),
        doc("Giấy chứng sinh; trường hợp không có Giấy chứng sinh thì nộp văn bản"),
        doc("Tờ khai đăng ký khai sinh theo mẫu", heading=""),
        doc("Nếu là người nước ngoài: hộ chiếu"),
    ]
    assert [d.text[:8] for d in _everyone_first(docs)] == ["Giấy chứ", "Tờ khai ", "Trường h", "Văn bản ", "Nếu là n"]


def test_heading_blocks_stay_together_and_conditional_blocks_go_last():
    docs = [
        doc("Giấy ủy quyền", heading="Trường hợp ủy quyền thực hiện thủ tục:"),
        doc("Bản sao giấy tờ tùy thân của người được ủy quyền", heading="Trường hợp ủy quyền thực hiện thủ tục:"),
        doc("Đơn đề nghị", heading="Hồ sơ gồm:"),
        doc("Trường hợp có thay đổi thì nộp bản sao", heading="Hồ sơ gồm:"),
        doc("Bản vẽ", heading="Hồ sơ gồm:"),
    ]
    assert [d.text for d in _everyone_first(docs)] == [
        "Đơn đề nghị", "Bản vẽ", "Trường hợp có thay đổi thì nộp bản sao",
        "Giấy ủy quyền", "Bản sao giấy tờ tùy thân của người được ủy quyền",
    ]

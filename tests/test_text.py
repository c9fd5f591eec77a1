"""Text folding used by search and voice: Vietnamese diacritics and đ fold, other scripts survive."""

from centre.text import clean, fold, tokens


def test_vietnamese_folds_tones_and_d():
    assert fold("Đăng ký khai sinh cho bé") == "dang ky khai sinh cho be"
    assert fold("GIẤY CHỨNG NHẬN quyền sử dụng ĐẤT!!") == "giay chung nhan quyen su dung dat"


def test_korean_survives_for_voice_tests():
    assert fold("주민등록 등본 발급") == "주민등록 등본 발급"


def test_operators_emoji_and_control_bytes_are_dropped():
    assert fold('AND ( "*') == "and"
    assert fold("x\x00y 😀 ĐỒNG") == "x y dong"
    assert tokens("Ngày_làm-việc") == ["ngay", "lam", "viec"]
    assert fold("") == ""


def test_clean_keeps_diacritics():
    assert clean("  Hộ\x07 tịch\n\n ") == "Hộ tịch"

"""Speech out (issue 13): the read-aloud summary written for listening, the normaliser every
spoken text goes through (kiosk, hall display, `kiosk voice say`), the Speaker's state."""

from __future__ import annotations

import threading

import pytest

from centre.aloud import (
    MAX_WORDS,
    OTHERS_VI,
    conditional,
    for_listening,
    procedure_summary,
    short_document,
    spoken_words,
)
from voice.speech import Speaker, SubprocessPlayer, to_speech


@pytest.fixture(scope="module")
def catalogue():
    from centre.catalogue import Catalogue, ensure_catalogue
    from centre.db import connect

    conn = connect(None)
    ensure_catalogue(conn)
    yield Catalogue(conn), [r[0] for r in conn.execute("SELECT key FROM procedures")]
    conn.close()


def test_every_summary_is_at_most_60_spoken_words_in_both_languages(catalogue, project_config):
    cat, keys = catalogue
    assert len(keys) > 300
    for key in keys:
        p = cat.get(key)
        for lang in ("vi", "en"):
            text = procedure_summary(p, project_config, lang)
            assert p.name_en or p.name
            assert 0 < spoken_words(text, lang) <= MAX_WORDS, (key, lang, text)


def test_birth_registration_summary_says_name_documents_time_fee_and_counter(catalogue, project_config):
    cat, _ = catalogue
    text = procedure_summary(cat.get("1.001193"), project_config, "vi")
    assert text.startswith("Đăng ký khai sinh.")
    assert "Giấy chứng sinh" in text and "Tờ khai đăng ký khai sinh" in text
    # 'Trường hợp trẻ em bị bỏ rơi…', '… trong trường hợp ủy quyền …' are not read one by one
    assert "bỏ rơi" not in text and "ủy quyền" not in text and OTHERS_VI in text
    assert "1 ngày làm việc" in text and "Miễn phí" in text and "Quầy" in text
    spoken = for_listening(text, "vi")
    assert "một ngày làm việc" in spoken and "1" not in spoken


def test_english_summary_never_reads_vietnamese_documents(catalogue, project_config):
    cat, _ = catalogue
    text = procedure_summary(cat.get("1.004194"), project_config, "en")
    assert text.startswith("Temporary residence registration.")
    assert "documents listed on the screen" in text and "Tờ khai" not in text
    assert "3 working days" in text and "Counter" in text


def test_conditional_documents_and_short_names():
    assert conditional("Trường hợp trẻ em bị bỏ rơi thì phải có biên bản")
    assert conditional("Nếu có giấy tờ chứng minh")
    assert conditional("Văn bản ủy quyền theo quy định trong trường hợp ủy quyền")
    assert not conditional("Tờ khai đăng ký khai sinh theo mẫu")
    assert short_document("Tờ khai đăng ký khai sinh theo mẫu (nếu người có yêu cầu …)") == "Tờ khai đăng ký khai sinh"


def test_numbers_dates_times_money_and_tickets_are_words():
    out = for_listening("Mời số A012 đến Quầy 3. Mở cửa 7h30 ngày 15/3, lệ phí 10.000 đồng, BHXH", "vi")
    assert "a không một hai" in out and "quầy ba" in out
    assert "bảy giờ ba mươi" in out and "mười lăm tháng ba" in out and "mười nghìn đồng" in out
    assert "bảo hiểm xã hội" in out and not any(ch.isdigit() for ch in out)
    assert "mười hai" in for_listening("A012", "vi", read_ticket_as="number")
    assert for_listening("Ticket A012, 10.000 VND", "en") == "Ticket A zero one two, 10000 VND"
    assert to_speech("Quầy 3", "vi") == "quầy ba"


class _Recorder(SubprocessPlayer):
    def __init__(self):
        super().__init__(["true"])
        self.release = threading.Event()
        self.played = []

    def play(self, path):
        self.release = threading.Event()  # say() stopped the previous speech before this one
        self.played.append(path)
        self.release.wait(10)
        return True

    def stop(self):
        self.release.set()


def test_speaker_reports_speaking_for_the_idle_timer_and_stops(tmp_config, tmp_path):
    states = []
    player = _Recorder()
    speaker = Speaker(tmp_config, player=player, cache_dir=tmp_path / "tts", on_state=states.append)
    speaker.say("Đăng ký khai sinh. Thời gian: 1 ngày làm việc.", "vi")
    for _ in range(200):
        if player.played:
            break
        threading.Event().wait(0.02)
    assert speaker.speaking and states == [True]
    speaker.stop()
    speaker.wait(5)
    assert not speaker.speaking and states == [True, False]

"""The staff server and the hub attacked from outside, round 10: hostile ward ids in the hub's
report downloads (a Vietnamese id was a 500, a quote broke the header). The round's other faults
(scrypt on the event loop, the hub's last_seq, current_code) are in test_fixes_r10.py."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from province.app import attachment

HOSTILE_IDS = ["phường-1", 'a"b', "x;y", "a\r\nSet-Cookie: s=1", "đ\u202e", "..%2F..%2Fetc"]


@pytest.mark.parametrize("ward", HOSTILE_IDS)
def test_a_download_name_is_one_latin1_header_whatever_the_ward_id(ward):
    name = f"bao-cao-{ward}-2026-11.csv"
    header = attachment(name)
    header.encode("latin-1")  # was UnicodeEncodeError for "phường-1": a 500
    assert "\r" not in header and "\n" not in header
    plain = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"; filename\*=UTF-8\'\'(\S+)', header)
    assert plain is not None, header  # one quoted ASCII name, nothing after it but the UTF-8 one
    assert unquote(plain.group(2)) == name


def test_a_vietnamese_ward_id_keeps_a_readable_ascii_name():
    assert 'filename="bao-cao-phuong-1-2026-11.xlsx"' in attachment("bao-cao-phường-1-2026-11.xlsx")
    assert 'filename="bao-cao-dong-ha-2026-11.csv"' in attachment("bao-cao-đông-hà-2026-11.csv")


@pytest.mark.slow
def test_the_hubs_report_downloads_of_hostile_ward_ids_are_no_500():
    """Real PostgreSQL: wards registered as `kiosk province add-centre` takes them (any text)."""
    import psycopg
    from fastapi.testclient import TestClient
    from province_helpers import add_user, login, new_database

    from province.app import create_app
    from province.auth import add_centre
    from province.db import migrate

    dsn = new_database()
    migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        for ward in HOSTILE_IDS[:3]:
            add_centre(c, ward, f"Phường {ward}")
    add_user(dsn, "so-noi-vu-r10")
    with TestClient(create_app(dsn, migrate_db=False), raise_server_exceptions=False) as client:
        assert login(client, "so-noi-vu-r10").status_code == 303
        for ward in HOSTILE_IDS[:3]:
            for fmt in ("csv", "xlsx"):
                r = client.get("/report", params={"ward": ward, "period": "2026-11", "format": fmt})
                assert r.status_code == 200, (ward, fmt, r.status_code)  # was 500 for "phường-1"
                disposition = r.headers["content-disposition"]
                assert unquote(disposition.split("UTF-8''", 1)[1]) == f"bao-cao-{ward}-2026-11.{fmt}"

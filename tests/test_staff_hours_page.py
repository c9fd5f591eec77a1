"""The administration's opening-hours page (issue 8), as a new centre administrator reads it.

QA found the days labelled 'mon'..'sun' on the Vietnamese page, and an empty Sunday showing a
grey '07:30-11:30, 13:30-17:00' placeholder that reads like hours."""

from __future__ import annotations

import re

import pytest
from staff_helpers import Centre


@pytest.fixture
def centre(tmp_config, tmp_path):
    return Centre(tmp_config, tmp_path / "centre.db")


@pytest.mark.parametrize("lang, monday, sunday, closed", [("vi", "Thứ Hai", "Chủ Nhật", "nghỉ (để trống)"),
                                                          ("en", "Monday", "Sunday", "closed (leave empty)")])
def test_days_are_named_in_the_page_language_and_an_empty_day_says_closed(centre, lang, monday, sunday, closed):
    page = centre.client("admin").get(f"/admin/hours?lang={lang}").text
    assert f"<label>{monday}<input name=\"mon\"" in page
    assert f"<th>{sunday}</th>" in page
    assert not re.search(r"<(label|th)>(mon|tue|wed|thu|fri|sat|sun)\b", page)
    sun = re.search(r'<input name="sun"[^>]*>', page).group(0)
    assert 'value=""' in sun and f'placeholder="{closed}"' in sun  # the shipped config closes on Sunday


def test_change_log_shows_vietnamese_as_written(centre):
    """QA: the change log showed a renamed service as "H\\u1ed9 t\\u1ecbch" (JSON escapes)."""
    admin = centre.client("admin")
    centre.queue().update_service("A", actor="admin:boss", name_vi="Hộ tịch <b>&")
    page = admin.get("/admin/audit").text
    assert "Hộ tịch" in page and "\\u1ed9" not in page
    assert "<b>" not in page  # still escaped for HTML


def test_recent_logins_in_the_centre_time_and_date_format(centre):
    """QA: the users page showed logins as '11/25/2026, 12:47:46 PM' (the browser's US format and zone)."""
    import time
    from datetime import datetime

    from staff_helpers import PASSWORDS

    from centre import users

    users.authenticate(centre.conn, "lan", PASSWORDS["lan"], "10.0.0.7")
    page = centre.client("admin").get("/admin/users").text
    now = datetime.fromtimestamp(time.time(), centre.cfg.centre.tz)
    assert re.search(r'<td class="ts" title="[0-9.]+">' + now.strftime("%d/%m/%Y") + r" \d\d:\d\d:\d\d</td>", page)


def test_hours_form_names_the_services_it_changes_and_others_keep_theirs(centre):
    """QA: saving the hours page overwrote every service's hours, wiping per-service hours."""
    admin = centre.client("admin")
    page = admin.get("/admin/hours").text
    services = re.search(r'<input name="services"[^>]*>', page).group(0)
    assert "data-outer" in services and 'value="A, B, C, D"' in services
    before_b = centre.queue().service("B").opening_hours.model_dump()
    r = admin.put("/api/admin/opening-hours", json={"opening_hours": {"mon": ["08:00-11:00"]}, "services": ["A"]},
                  headers=admin.headers)
    assert r.status_code == 200, r.text
    assert centre.queue().service("A").opening_hours.mon == ["08:00-11:00"]
    assert centre.queue().service("B").opening_hours.model_dump() == before_b

"""The ward's own indicators on its staff server (issue 17): /indicators and /api/indicators,
computed from the ward's SQLite with the formulas the provincial hub uses."""

from __future__ import annotations

from datetime import timedelta

from staff_helpers import OPEN_TIME, Centre


def test_ward_indicators_page_and_api(tmp_config, tmp_path):
    from centre import ratings
    from centre.dossiers import Dossiers

    centre = Centre(tmp_config, tmp_path / "centre.db")
    q = centre.queue()
    tickets = [q.issue("A") for _ in range(3)]
    centre.clock.advance(minutes=6)
    for _ in tickets[:2]:
        t = q.call_next(1, actor="officer:lan")
        q.start(t.id, actor="officer:lan")
        centre.clock.advance(minutes=4)
        served = q.serve(t.id, actor="officer:lan")
    ratings.ensure_schema(q.conn)
    ratings.rate(q.conn, served, 4, now=centre.clock.now().timestamp())
    reg = Dossiers.from_config(q.conn, tmp_config)
    day = OPEN_TIME.date()
    reg.upsert_many([(1, {"code": "H1", "received_at": f"{day} 08:00", "due_at": str(day), "channel": "trực tuyến",
                          "digitised": "có", "state": "đã trả kết quả"}),
                     (2, {"code": "H2", "received_at": f"{day} 08:30", "due_at": str(day + timedelta(days=3)),
                          "channel": "trực tiếp"})], source="test", now=OPEN_TIME.replace(tzinfo=None))
    admin = centre.client("admin")
    data = admin.get(f"/api/indicators?month={day:%Y-%m}").json()
    ind = data["ind"]
    assert ind["tickets"] == 3 and ind["served"] == 2 and ind["ratings"] == 1 and ind["satisfied_share"] == 1.0
    assert ind["wait_mean_min"] is not None and ind["service_mean_min"] == 4.0
    assert ind["dossiers_received"] == 2 and ind["online_share"] == 0.5 and ind["digitised_share"] == 0.5
    assert ind["dossiers_on_due"] == 1 and ind["on_time_rate"] == 1.0
    assert [d["name"] for d in data["decision_766"]][1] == "Tiến độ, kết quả giải quyết"
    page = admin.get("/indicators")
    assert page.status_code == 200 and "Quyết định 766/QĐ-TTg" in page.text and "Tỷ lệ đúng hạn" in page.text
    assert centre.client("officer").get("/api/indicators").status_code in (401, 403)

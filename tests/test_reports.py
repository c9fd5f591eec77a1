"""Report figures on a hand-made day of tickets with answers counted by hand (issue 8)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from centre import ratings, reports
from centre.clock import FixedClock
from centre.db import connect
from centre.queue import Queue
from centre.reports import TicketFacts, percentile

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = date(2026, 11, 25)
TARGETS = {"A": 15.0, "B": 20.0}


def at(hhmm: str, day: date = DAY) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ)


# id, series, state, issued, called, started, finished, counter, priority, rating
HAND_MADE_DAY = [
    TicketFacts(1, "A", "served", at("08:00"), at("08:05"), at("08:06"), at("08:16"), 1, None, 5),
    TicketFacts(2, "A", "served", at("08:02"), at("08:16"), None, at("08:24"), 1, None, 4),  # "start" never pressed
    TicketFacts(3, "A", "no_show", at("08:03"), at("08:24"), None, at("08:27"), 1),
    TicketFacts(4, "A", "served", at("08:20"), at("08:27"), at("08:27"), at("08:39"), 2, "elderly", 3),
    TicketFacts(5, "B", "served", at("09:00"), at("09:20"), at("09:21"), at("09:51"), 3),  # wait = target exactly
    TicketFacts(6, "B", "cancelled", at("09:10"), None, None, at("09:15")),
    TicketFacts(7, "B", "waiting", at("10:00")),
    # 00:30 local on the 25th is still the 24th in UTC: it belongs to the 25th.
    TicketFacts(9, "A", "cancelled", datetime(2026, 11, 24, 17, 30, tzinfo=UTC), None, None, at("00:31")),
    # The day before: not in the report.
    TicketFacts(8, "A", "served", at("08:00", DAY - timedelta(days=1)), at("08:30", DAY - timedelta(days=1)),
                None, at("08:40", DAY - timedelta(days=1)), 1, None, 1),
]


def test_nearest_rank_percentile():
    assert percentile([], 90) is None
    assert percentile(list(range(1, 11)), 90) == 9
    # Wikipedia's nearest-rank example.
    data = [15, 20, 35, 40, 50]
    assert [percentile(data, q) for q in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
    assert percentile([7], 90) == 7


def test_day_totals_known_answers():
    rep = reports.build_report(HAND_MADE_DAY, DAY, DAY, TARGETS, TZ)
    s = rep.total
    assert (s.tickets, s.served, s.no_show, s.cancelled, s.open, s.priority) == (8, 4, 1, 2, 1, 1)
    assert s.called == 5
    assert s.wait_mean_min == 13.4          # (5 + 14 + 21 + 7 + 20) / 5
    assert s.wait_p90_min == 21             # rank ceil(0.9 * 5) = 5 of 5
    assert s.wait_max_min == 21
    assert s.service_mean_min == 15.0       # (10 + 8 + 12 + 30) / 4; ticket 2 from its call
    assert s.service_p90_min == 30          # rank 4 of 4
    assert s.within_target == 4 and s.service_level == 0.8  # only A003 (21 > 15) missed
    assert s.ratings == 3 and s.rating_mean == 4.0 and s.rating_counts == {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}


def test_per_service_counter_hour():
    rep = reports.build_report(HAND_MADE_DAY, DAY, DAY, TARGETS, TZ)
    a, b = rep.by_service["A"], rep.by_service["B"]
    assert (a.tickets, a.served, a.no_show, a.cancelled) == (5, 3, 1, 1)
    assert a.wait_mean_min == 11.75 and a.wait_p90_min == 21 and a.service_level == 0.75
    assert a.service_mean_min == 10.0 and a.service_p90_min == 12
    assert (b.tickets, b.served, b.cancelled, b.open) == (3, 1, 1, 1)
    assert b.wait_mean_min == 20 and b.service_level == 1.0 and b.service_mean_min == 30
    assert set(rep.by_counter) == {1, 2, 3}
    c1 = rep.by_counter[1]
    assert c1.tickets == 3 and c1.wait_mean_min == 13.33 and c1.service_level == 0.6667
    assert rep.by_hour == {0: 1, 8: 4, 9: 2, 10: 1}


def test_range_report_and_csv():
    rep = reports.build_report(HAND_MADE_DAY, DAY - timedelta(days=1), DAY, TARGETS, TZ)
    assert rep.total.tickets == 9
    assert rep.by_day[DAY - timedelta(days=1)].tickets == 1 and rep.by_day[DAY].tickets == 8
    assert rep.total.rating_counts[1] == 1
    csv_text = reports.report_csv(rep, "en")
    lines = csv_text.splitlines()
    assert lines[0] == ",".join(reports.CSV_COLUMNS)
    assert lines[1].startswith("total,2026-11-24..2026-11-25,9,5,1,2,0,0,1,1,6,")
    assert any(line.startswith("service,B,3,1,0,1,0,0,1,0,1,20.0,20.0,20.0,30.0,30.0,1.0,1,0,") for line in lines)
    vi = reports.report_csv(rep).splitlines()  # Vietnamese headers and scopes by default (issue 16)
    assert vi[0].startswith("Phạm vi,Mục,Số phiếu,Đã phục vụ,Vắng mặt") and vi[1].startswith("Tổng,")
    with pytest.raises(reports.ReportRangeError):
        reports.build_report(HAND_MADE_DAY, DAY, DAY - timedelta(days=1), TARGETS, TZ)


def test_empty_day_has_no_made_up_figures():
    s = reports.build_report([], DAY, DAY, TARGETS, TZ).total
    assert s.tickets == 0 and s.wait_mean_min is None and s.service_level is None and s.rating_mean is None


def test_report_from_the_queue_tables(tmp_config, tmp_path):
    """The same kind of day driven through the real queue and database, read back by load_facts."""
    clock = FixedClock(at("08:00"))
    conn = connect(tmp_path / "q.db")
    qu = Queue(conn, tmp_config, clock)
    ratings.ensure_schema(conn)
    t1 = qu.issue("A", actor="kiosk")
    clock.advance(minutes=2)
    t2 = qu.issue("A", actor="kiosk", priority="elderly")
    clock.advance(minutes=3)                       # 08:05
    assert qu.call_next(1, actor="o").id == t2.id  # priority first: waited 3 min
    qu.start(t2, actor="o")
    clock.advance(minutes=10)                      # 08:15
    assert qu.call_next(1, actor="o").id == t1.id  # t2 served (10 min); t1 waited 15 min = target
    clock.advance(minutes=4)                       # 08:19
    qu.no_show(t1, actor="o")
    ratings.rate(conn, qu.get(t2), 4, now=clock.now().timestamp())
    with pytest.raises(ratings.AlreadyRated):
        ratings.rate(conn, qu.get(t2), 5, now=clock.now().timestamp())
    with pytest.raises(ratings.RatingError, match="no-show|no_show"):
        ratings.rate(conn, qu.get(t1), 5, now=clock.now().timestamp())
    rep = reports.report_for(qu, DAY, DAY)
    s = rep.total
    assert (s.tickets, s.served, s.no_show, s.called) == (2, 1, 1, 2)
    assert s.wait_mean_min == 9.0 and s.wait_p90_min == 15.0 and s.service_level == 1.0
    assert s.service_mean_min == 10.0 and s.rating_mean == 4.0
    assert rep.by_counter[1].tickets == 2


def test_kiosk_report_command(tmp_path, capsys):
    from pathlib import Path

    from kiosk.cli import main

    root = Path(__file__).resolve().parent.parent
    text = (root / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(text.replace('catalogue: "data/procedures"', f'catalogue: "{root}/data/procedures"'),
                        encoding="utf-8")
    from centre.config import load_config

    cfg = load_config(cfg_path)
    clock = FixedClock(at("09:00"))
    qu = Queue(connect(cfg.database_path), cfg, clock)
    qu.issue("B", actor="kiosk")
    clock.advance(minutes=30)
    qu.call_next(3, actor="o")
    assert main(["--config", str(cfg_path), "report", "--date", "2026-11-25", "--csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("Tổng,2026-11-25..2026-11-25,1,0,0,0,0,0,1,0,1,30.0,30.0,30.0,,,0.0,0,")
    assert main(["--config", str(cfg_path), "report", "--date", "2026-11-25"]) == 0
    assert "service B" in capsys.readouterr().out
    assert main(["--config", str(cfg_path), "report", "--date", "25/11/2026"]) == 2
    assert "not a date" in capsys.readouterr().err


def _t(i, series="A", state="served", **kw):
    base = datetime(2026, 11, 25, 8, 0, tzinfo=TZ)
    return reports.TicketFacts(id=i, series=series, state=state, issued_at=base + timedelta(minutes=i),
                               called_at=base + timedelta(minutes=i + 5), started_at=base + timedelta(minutes=i + 6),
                               finished_at=base + timedelta(minutes=i + 10), counter_id=1, **kw)


def test_transfers_officers_procedures_and_service_by_day_issue16():
    """Issue 16: transfers were always 0; no per-officer, per-procedure or service × day figures."""
    facts = [_t(1, transfers=1, officer="lan", procedure_key="p1"), _t(2, officer="lan", procedure_key="p1"),
             _t(3, series="B", state="no_show", officer="minh", transfers=2), _t(4, officer="minh")]
    rep = reports.build_report(facts, DAY, DAY, TARGETS, TZ)
    assert rep.total.transfers == 3 and rep.total.transferred_out == 2
    assert rep.by_officer["lan"].served == 2 and rep.by_officer["minh"].no_show == 1
    assert rep.by_procedure["p1"].tickets == 2 and rep.by_procedure[""].tickets == 2
    assert rep.service_day[("A", DAY)].served == 3 and rep.service_day[("B", DAY)].no_show == 1
    assert reports.officer_name("kiosk:hall/officer:lan") == "lan" and reports.officer_name(None) is None


def test_csv_cells_cannot_start_formulas_issue16():
    facts = [_t(1, officer="=HYPERLINK(\"http://x\")"), _t(2, officer="+1+2"), _t(3, officer="@SUM(A1)")]
    text = reports.report_csv(reports.build_report(facts, DAY, DAY, TARGETS, TZ))
    rows = list(csv.reader(io.StringIO(text)))
    keys = [r[1] for r in rows if r[0] == "Cán bộ"]
    assert keys and all(k.startswith("'") for k in keys)
    assert reports.csv_safe(-3) == -3 and reports.csv_safe("-3") == "'-3"

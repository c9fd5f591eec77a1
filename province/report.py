"""Monthly report per ward and for the province: rows of labelled figures, as HTML, CSV or XLSX."""

from __future__ import annotations

import csv
import io

import psycopg

from centre.indicators import Stats, decision_766, indicators, total
from centre.reports import csv_safe
from centre.text import escape_unshowable
from province import queries
from province.i18n import t

# (key, Vietnamese label, kind) in report order; kind: n = count, min = minutes, pct = share, x = mean.
# Pages and files say each label in their language: province/i18n `line_<key>`.
LINES = [
    ("tickets", "Số lượt lấy số", "n"), ("served", "Số lượt đã phục vụ", "n"),
    ("no_show", "Số lượt vắng mặt", "n"), ("no_show_rate", "Tỷ lệ vắng mặt", "pct"),
    ("wait_mean_min", "Thời gian chờ trung bình (phút)", "min"), ("wait_p90_min", "Thời gian chờ P90 (phút)", "min"),
    ("service_mean_min", "Thời gian phục vụ trung bình (phút)", "min"),
    ("service_p90_min", "Thời gian phục vụ P90 (phút)", "min"),
    ("ratings", "Số lượt đánh giá", "n"), ("satisfied_share", "Tỷ lệ hài lòng (4–5 sao)", "pct"),
    ("rating_mean", "Điểm đánh giá trung bình (1–5)", "x"),
    ("dossiers_received", "Hồ sơ tiếp nhận", "n"), ("dossiers_finished", "Hồ sơ đã giải quyết", "n"),
    ("dossiers_early", "Giải quyết trước hạn", "n"), ("dossiers_on_due", "Giải quyết đúng hạn (đúng ngày hẹn)", "n"),
    ("dossiers_late", "Giải quyết quá hạn", "n"), ("on_time_rate", "Tỷ lệ trước hạn và đúng hạn", "pct"),
    ("online_share", "Tỷ lệ hồ sơ trực tuyến", "pct"), ("digitised_share", "Tỷ lệ hồ sơ được số hóa", "pct"),
]


def build(conn: psycopg.Connection, period: queries.Period, ward: str | None,
          only: list[str] | None = None) -> dict | None:
    """One ward's report, or every ward's (those in `only` when given: a ward user's scope) and their total."""
    cs = queries.centres(conn, only)
    if ward and ward not in cs:
        return None
    stats = queries.stats_by_centre(conn, period.start, period.end, ward or only)
    wards = [ward] if ward else list(cs)
    per_ward = {cid: indicators(stats.get(cid, Stats())) for cid in wards}
    tot = indicators(total(stats.values()))
    return {"period": period, "ward": cs[ward] if ward else None, "wards": [cs[c] for c in wards],
            "per_ward": per_ward, "total": tot, "decision_766": decision_766(tot), "lines": LINES,
            "total_label": queries.TOTAL_PROVINCE if only is None else queries.TOTAL_SCOPE,
            "total_key": queries.total_key(only)}


def _fmt(v, kind: str) -> str:
    if v is None:
        return ""
    if kind == "pct":
        return f"{v * 100:.1f}"
    return str(v)


def _value(v, kind: str):
    return v * 100 if (kind == "pct" and v is not None) else v


def _total_name(rep: dict, lang: str) -> str:
    """The total's name in `lang` (a report made without `total_key`: its own `total_label`)."""
    return t(lang, rep["total_key"]) if rep.get("total_key") else rep["total_label"]


def to_rows(rep: dict, lang: str = "vi") -> list[list]:
    """A ward: one row per indicator. The province: one row per ward (and the total), one column per
    indicator. Headings in `lang` (province/i18n)."""
    labels = [t(lang, f"line_{key}") + (" (%)" if kind == "pct" else "") for key, _, kind in LINES]
    if rep["ward"]:
        return [[t(lang, "indicator"), rep["ward"]["name"]]] + [
            [lab, _value(rep["total"][key], kind)] for lab, (key, _, kind) in zip(labels, LINES, strict=True)]
    rows = [[t(lang, "ward"), *labels]]
    for w in rep["wards"]:
        ind = rep["per_ward"][w["centre_id"]]
        rows.append([w["name"], *(_value(ind[key], kind) for key, _, kind in LINES)])
    rows.append([_total_name(rep, lang), *(_value(rep["total"][key], kind) for key, _, kind in LINES)])
    return rows


def to_csv(rep: dict, lang: str = "vi") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([t(lang, "report_file_title", period=rep["period"].label)])
    for row in to_rows(rep, lang):
        w.writerow(["" if v is None else (f"{v:.1f}" if isinstance(v, float) else csv_safe(_xlsx_text(v))) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens Vietnamese text correctly


def _xlsx_text(v):
    """A text cell openpyxl will write: a control character in a ward's name (add-centre --name
    takes any text) raised IllegalCharacterError and the hub's Excel download was a 500; it is
    written as an escape ('\\u0001'), as the logs do (the CSV too: no NUL or bidi override in a cell)."""
    return escape_unshowable(v) if isinstance(v, str) else v


def to_xlsx(rep: dict, lang: str = "vi") -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Bao cao"
    ws.append([_xlsx_text(t(lang, "report_file_title", period=rep["period"].label) + " — "
                          + (rep["ward"]["name"] if rep["ward"] else _total_name(rep, lang).lower()))])
    # a ward's name is the hub operator's text: '=…' would be a live formula in the sheet (as in CSV)
    ws["A1"].font = Font(bold=True, size=13)
    for i, row in enumerate(to_rows(rep, lang)):
        ws.append([round(v, 2) if isinstance(v, float) else csv_safe(_xlsx_text(v)) for v in row])
        if i == 0:
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 42 if rep["ward"] else 28
    ws2 = wb.create_sheet("QD766")
    ws2.append([t(lang, "d766_group"), t(lang, "d766_max"), t(lang, "d766_rate_pct"), t(lang, "d766_how")])
    for d in rep["decision_766"]:
        ws2.append([t(lang, f"d766_{d['key']}"), d["max_points"], None if d["rate"] is None else round(d["rate"] * 100, 1),
                    t(lang, f"d766_{d['key']}_how")])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

"""Benchmark: dossier lookup among 100,000 dossiers, and import speed. Prints one JSON line."""

from __future__ import annotations

import csv
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from centre.catalogue_schema import ensure_schema  # noqa: E402
from centre.db import connect  # noqa: E402
from centre.dossiers import Dossiers  # noqa: E402
from centre.workdays import load_calendar  # noqa: E402

N = 100_000
HEADER = ["code", "procedure_code", "applicant_name", "applicant_phone", "received_at", "state", "officer"]


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(Path(tmp) / "centre.db")
        ensure_schema(conn)
        conn.execute("INSERT INTO fields(id, name_vi, name_en) VALUES ('ho-tich', 'Hộ tịch', 'Civil status')")
        for i, (value, unit) in enumerate([(3, "working_days"), (7, "days"), (None, "same_day"), (15, "working_days")]):
            conn.execute("INSERT INTO procedures(key, code, name, official_name, field_id, processing_value, "
                         "processing_unit) VALUES (?, ?, ?, ?, 'ho-tich', ?, ?)",
                         (f"1.00000{i}", f"1.00000{i}", f"Thủ tục {i}", f"Thủ tục {i}", value, unit))
        reg = Dossiers(conn, load_calendar(ROOT / "data" / "holidays.yaml"), tz=ZoneInfo("Asia/Ho_Chi_Minh"))
        export = Path(tmp) / "export.csv"
        states = ["Mới tiếp nhận", "Đang xử lý", "Yêu cầu bổ sung", "Đã có kết quả", "Đã trả kết quả"]
        with export.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(HEADER)
            for i in range(N):
                w.writerow([f"000.00.19.H29-{260000 + i // 1000:06d}-{i:05d}", f"1.00000{i % 4}",
                            f"Nguyễn Văn {i}", f"09{i:08d}", f"{1 + i % 28:02d}/{1 + i % 12:02d}/2026 {8 + i % 9}:15",
                            states[i % 5], f"cb{i % 7}"])
        t0 = time.perf_counter()
        report = reg.import_file(export)
        import_s = time.perf_counter() - t0
        assert report.inserted == N and not report.errors, report.errors[:3]
        codes = [f"000.00.19.H29-{260000 + i // 1000:06d}-{i:05d}" for i in rng.sample(range(N), 2000)]
        codes += [f"000.00.19.H29-999999-{i:05d}" for i in range(200)]  # not found
        times = []
        for c in codes:
            t = time.perf_counter()
            reg.lookup_public(c)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        t0 = time.perf_counter()
        again = reg.import_file(export)
        reimport_s = time.perf_counter() - t0
        print(json.dumps({
            "dossiers": N,
            "lookup_p50_ms": round(statistics.median(times), 3),
            "lookup_p95_ms": round(times[int(len(times) * 0.95)], 3),
            "import_rows_per_s": round(N / import_s),
            "reimport_unchanged_rows_per_s": round(N / reimport_s),
            "reimport_unchanged": again.unchanged,
        }))


if __name__ == "__main__":
    main()

"""`kiosk search`: human and JSON output, --limit, --batch from a file or stdin, bad input.

Issue 3, item 7 and "Done when": `kiosk search --json "giay khai sinh cho be moi sinh"`
finds Đăng ký khai sinh first. Each test gets a centre with an empty database, so the
command must import the shipped catalogue by itself.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from search_helpers import shipped_config_file

from kiosk.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config_file(tmp_path) -> Path:
    """The shipped config.yaml with its database in a temporary folder (catalogue from the project)."""
    return shipped_config_file(tmp_path)


def run(config_file, *args, stdin: str | None = None, capsys=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["-c", str(config_file), "search", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_done_when_giay_khai_sinh_cho_be_moi_sinh(config_file):
    """The issue's own check, as a separate process on a fresh database."""
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "-c", str(config_file), "search", "--json", "giay khai sinh cho be moi sinh"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[0]["code"] == "1.001193"
    assert rows[0]["name"] == "Đăng ký khai sinh"
    assert {"code", "name", "official_name", "field", "score"} <= set(rows[0])
    assert rows[0]["official_name"] == "Thủ tục đăng ký khai sinh"
    assert rows[0]["field"] == "Hộ tịch"
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_json_limit_and_no_match(config_file, capsys, monkeypatch):
    code, out, _ = run(config_file, "--json", "--limit", "2", "đăng ký kết hôn", capsys=capsys)
    rows = json.loads(out)
    assert code == 0 and 1 <= len(rows) <= 2 and rows[0]["code"] == "1.000894"
    code, out, _ = run(config_file, "--json", "mua vé máy bay", capsys=capsys)
    assert code == 0 and json.loads(out) == []


def test_human_output(config_file, capsys):
    code, out, _ = run(config_file, "xin", "cái", "giấy", "độc", "thân", capsys=capsys)
    assert code == 0
    first = out.splitlines()[0]
    assert first.lstrip().startswith("1.") and "1.004873" in first and "tình trạng hôn nhân" in first
    code, out, _ = run(config_file, "thời tiết hôm nay", capsys=capsys)
    assert "no matching procedure" in out and "nearest fields" in out


def test_batch_from_stdin_one_array_a_line_in_order(config_file, capsys, monkeypatch):
    queries = ["giay khai sinh cho be moi sinh", "how to cook pho", "", '"AND (', "dang ky tam tru"]
    code, out, _ = run(
        config_file, "--json", "--limit", "3", "--batch", "-", stdin="\n".join(queries) + "\n",
        capsys=capsys, monkeypatch=monkeypatch,
    )
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(queries)
    arrays = [json.loads(line) for line in lines]
    assert arrays[0][0]["code"] == "1.001193"
    assert arrays[1] == [] and arrays[2] == [] and arrays[3] == []
    assert arrays[4][0]["code"] == "1.004194"
    assert all(len(a) <= 3 for a in arrays)


def test_batch_from_file(config_file, tmp_path, capsys):
    f = tmp_path / "q.txt"
    f.write_text("đăng ký khai tử\r\nmarriage registration\n", encoding="utf-8")
    code, out, _ = run(config_file, "--json", "--batch", str(f), capsys=capsys)
    arrays = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [a[0]["code"] for a in arrays] == ["1.000656", "1.000894"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--limit", "-1", "khai sinh"], "--limit"),
        (["--batch", "/nonexistent/queries.txt"], "cannot read"),
        (["--batch", "-", "khai sinh"], "not both"),
        (["--min-score", "2", "khai sinh"], "--min-score"),
    ],
)
def test_bad_arguments_exit_2_with_a_plain_message(config_file, capsys, args, message):
    code, out, err = run(config_file, *args, capsys=capsys)
    assert code == 2 and message in err and out == ""


def test_explain(config_file, capsys):
    code, out, _ = run(config_file, "--explain", "dang ky ket hon", capsys=capsys)
    data = json.loads(out)
    assert code == 0 and [t["typed"] for t in data["tokens"]] == ["dang", "ki", "ket", "hon"]
    assert data["candidates"] and data["candidates"][0]["key"] == "1.000894"
    assert data["accepted"] >= 1 and data["candidates"][0]["score"] >= data["min_score"]


def test_doctor_line(config_file, capsys):
    from kiosk.cli import Context
    from kiosk.commands.search import doctor

    ctx = Context(str(config_file))
    checks = doctor(ctx)  # fresh database: no catalogue yet
    assert len(checks) == 1 and not checks[0].ok and "kiosk catalogue import" in checks[0].message
    run(config_file, "--json", "khai sinh", capsys=capsys)  # imports the catalogue
    checks = doctor(Context(str(config_file)))
    assert checks[0].ok and "Đăng ký khai sinh" in checks[0].message
    # the semantic ranker's line: on with its passage vectors, or off and why (lexical only)
    semantic_line = next(c for c in checks if c.part == "semantic")
    assert semantic_line.ok and ("passage vectors" in semantic_line.message or "off" in semantic_line.message)


def test_doctor_says_when_the_cpu_cannot_run_the_semantic_ranker(config_file, capsys, monkeypatch):
    from centre.search import semantic
    from kiosk.cli import Context
    from kiosk.commands.search import doctor

    run(config_file, "--json", "khai sinh", capsys=capsys)
    monkeypatch.setattr(semantic, "cpu_has_avx2", lambda path="/proc/cpuinfo": False)
    semantic.status.cache_clear()
    try:
        line = next(c for c in doctor(Context(str(config_file))) if c.part == "semantic")
        assert line.ok and "AVX2" in line.message and "lexical" in line.message
    finally:
        semantic.status.cache_clear()

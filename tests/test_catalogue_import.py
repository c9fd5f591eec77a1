"""Catalogue import and read API (issue 3, item 5): real data, broken files, atomic swap, service_for, CLI."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

import centre.catalogue_import as ci
from centre.catalogue import Catalogue, ensure_catalogue, service_for
from centre.catalogue_import import CatalogueError, import_catalogue, load_source
from centre.db import connect
from kiosk.cli import main as kiosk_main

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "catalogue"
REAL = ROOT / "data" / "procedures"


@pytest.fixture
def small(tmp_path) -> Path:
    """A copy of the small test catalogue that a test may break."""
    d = tmp_path / "cat"
    d.mkdir()
    for name in ("fields.yaml", "national.jsonl", "manual.yaml", "enrichment.yaml"):
        shutil.copy(DATA / name, d / name)
    return d


@pytest.fixture
def db(tmp_path):
    conn = connect(tmp_path / "centre.db")
    yield conn
    conn.close()


# -- the real catalogue -------------------------------------------------------------------------


def test_import_of_the_shipped_catalogue(db, project_config):
    report = ensure_catalogue(db, project_config)
    assert report is not None and report.version == 1
    cat = Catalogue(db)
    stats = cat.stats()
    assert stats["by_source"]["national"] == 353 - 15  # 15 crawl duplicates of 2 portal pages skipped
    assert len(report.skipped) == 15 and report.national == 338
    assert stats["by_source"]["manual"] >= 10
    assert stats["total"] == 338 + stats["by_source"]["manual"]
    assert sum(stats["by_field"].values()) == stats["total"]
    assert set(stats["missing"]) >= {"code", "time", "fee", "documents"}
    assert stats["missing"]["code"] == stats["by_source"]["manual"]  # only hand-added ones lack a code
    # a second ensure_catalogue does nothing
    assert ensure_catalogue(db, project_config) is None and cat.version() == 1

    birth = cat.get("1.001193")
    assert birth.name == "Đăng ký khai sinh" and birth.official_name == "Thủ tục đăng ký khai sinh"
    assert birth.field_id == "ho-tich" and birth.field_name_vi == "Hộ tịch"
    assert birth.to_submit and birth.to_show
    assert (
        birth.processing.label("vi") == "1 ngày làm việc" and birth.processing.label("en") == "1 working day"
    )
    assert birth.fee.label("vi") == "Miễn phí"
    assert service_for(birth, project_config) == "A"

    # every field a service lists exists, and every manual field has names and an icon
    field_ids = {f.id for f in cat.fields(with_procedures_only=False)}
    for svc in project_config.services:
        assert set(svc.fields) <= field_ids, f"service {svc.series} lists unknown fields"
    for fid in ("bao-tro-xa-hoi", "nguoi-co-cong", "giao-duc", "nghia-vu-quan-su", "moi-truong"):
        f = cat.field(fid)
        assert f and f.name_vi and f.name_en and f.icon and f.count > 0


def test_manual_procedures_are_complete_and_not_duplicates(db, project_config):
    ensure_catalogue(db, project_config)
    cat = Catalogue(db)
    manual = [p for p in cat.procedures() if p.key.startswith("m-")]
    names = {p.name for p in manual}
    for needle in (
        "trợ cấp xã hội hằng tháng",
        "mai táng",
        "khuyết tật",
        "thờ cúng liệt sĩ",
        "khai tử",
        "nghĩa vụ quân sự",
        "Chuyển trường",
        "môi trường",
    ):
        assert any(needle in n for n in names), needle
    from centre.text import fold

    national = {fold(p.name) for p in cat.procedures() if not p.key.startswith("m-")}
    for p in manual:
        full = cat.get(p.key)
        assert full.code == "" and full.source == "manual"
        assert full.legal_basis and all(lb["number"] for lb in full.legal_basis)
        assert full.name_en
        assert {a["lang"] for a in full.aliases} == {"vi", "en"}
        assert fold(full.name) not in national
    assert service_for(cat.get("m-tro-cap-xa-hoi-hang-thang"), project_config) == "C"
    assert service_for(cat.get("m-chuyen-truong-thcs"), project_config) == "D"  # no service lists giao-duc


def test_read_api_lists(db, small):
    import_catalogue(db, small)
    cat = Catalogue(db)
    assert [f.id for f in cat.fields()] == ["ho-tich", "bao-tro-xa-hoi"]
    assert [p.code for p in cat.procedures("ho-tich")] == [
        "1.004873",
        "1.001193",
        "1.000656",
    ]  # by folded name
    assert [p.key for p in cat.procedures("bao-tro-xa-hoi")] == ["m-ho-tro-chi-phi-mai-tang"]
    assert cat.get("nothing") is None and cat.get("") is None
    assert cat.get("m-ho-tro-chi-phi-mai-tang").fee.amount == 0
    death = cat.get("1.000656")
    assert death.name_en == "Death registration" and death.service == "D"  # from enrichment.yaml
    assert {"alias": "khai tử", "lang": "vi"} in death.aliases
    birth = cat.get("1.001193")
    assert {"alias": "birth certificate", "lang": "en"} in birth.aliases
    assert {"alias": "làm giấy khai sinh", "lang": "vi"} in birth.aliases
    assert cat.missing_english() == ["1.004873"]
    json.dumps(birth.to_dict(), ensure_ascii=False)  # serialisable for the CLI and the staff API


# -- service_for ---------------------------------------------------------------------------------


class _P:
    def __init__(self, field_id, service=""):
        self.field_id, self.service = field_id, service


def test_service_for(project_config):
    assert service_for(_P("ho-tich"), project_config) == "A"
    assert service_for(_P("dat-dai"), project_config) == "B"
    assert service_for(_P("nguoi-co-cong"), project_config) == "C"
    assert service_for(_P("cap-quan-ly-can-cuoc"), project_config) == "D"  # catch-all (empty fields)
    assert service_for(_P("ho-tich", service="C"), project_config) == "C"  # procedure override
    assert service_for(_P("ho-tich", service="Z"), project_config) == "A"  # unknown override ignored


def test_catalogue_service_for_by_key(db, small, project_config):
    import_catalogue(db, small)
    cat = Catalogue(db)
    assert cat.service_for("1.001193", project_config) == "A"
    assert cat.service_for("1.000656", project_config) == "D"  # enrichment.yaml overrides the field's A
    assert cat.service_for("m-ho-tro-chi-phi-mai-tang", project_config) == "C"
    assert cat.service_for("9.999999", project_config) is None


# -- broken files: clear report, nothing changes ------------------------------------------------


def _import_fails(db, path) -> list:
    before = Catalogue(db).stats()
    with pytest.raises(CatalogueError) as exc:
        import_catalogue(db, path)
    assert Catalogue(db).stats() == before  # old catalogue intact
    return exc.value.problems


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_broken_json_line_names_file_and_line(db, small):
    import_catalogue(db, small)
    lines = (small / "national.jsonl").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:-20]  # truncated second line
    (small / "national.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (p,) = _import_fails(db, small)
    assert p.file.endswith("national.jsonl") and p.line == 2 and "not valid JSON" in p.message
    assert "national.jsonl:2" in str(p)


def test_missing_required_key(db, small):
    import_catalogue(db, small)
    _edit(small / "manual.yaml", '    name: "Hỗ trợ chi phí mai táng"\n', "")
    problems = _import_fails(db, small)
    assert any(
        p.file.endswith("manual.yaml") and p.field == "procedures[0].name" and "missing" in p.message
        for p in problems
    )
    assert all(p.line == 2 for p in problems if p.field == "procedures[0].name")


def test_unknown_field_id(db, small):
    import_catalogue(db, small)
    _edit(small / "manual.yaml", "field_id: bao-tro-xa-hoi", "field_id: bao-tro")
    (p,) = _import_fails(db, small)
    assert p.field == "field_id" and "bao-tro" in p.message and p.line == 2


def test_manual_procedure_without_legal_basis_is_rejected(db, small):
    text = (small / "manual.yaml").read_text(encoding="utf-8")
    start = text.index("    legal_basis:")
    end = text.index("    aliases:")
    (small / "manual.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    problems = _import_fails(db, small)
    assert any(p.field == "procedures[0].legal_basis" for p in problems)


def test_duplicate_keys_yaml_and_codes(db, small):
    import_catalogue(db, small)
    _edit(small / "fields.yaml", "bao-tro-xa-hoi:", "ho-tich:")
    (p,) = _import_fails(db, small)
    assert p.file.endswith("fields.yaml") and p.line == 3 and "twice" in p.message

    shutil.copy(DATA / "fields.yaml", small / "fields.yaml")
    first = (small / "national.jsonl").read_text(encoding="utf-8").splitlines()[0]
    with (small / "national.jsonl").open("a", encoding="utf-8") as f:
        f.write(first + "\n")
    (p,) = _import_fails(db, small)
    assert p.line == 4 and "duplicate" in p.message and p.field == "code"


def test_bad_types_and_values(db, small):
    import_catalogue(db, small)
    _edit(small / "manual.yaml", "fee: {amount: 0,", "fee: {amount: free,")
    (p,) = _import_fails(db, small)
    assert p.field == "procedures[0].fee.amount" and p.line == 6

    shutil.copy(DATA / "manual.yaml", small / "manual.yaml")
    _edit(small / "manual.yaml", "group: submit", "group: bring")
    (p,) = _import_fails(db, small)
    assert p.field == "procedures[0].documents[0].group" and p.line == 8

    shutil.copy(DATA / "manual.yaml", small / "manual.yaml")
    _edit(small / "manual.yaml", "    name_en:", "    name_english:")
    (p,) = _import_fails(db, small)
    assert p.field == "procedures[0].name_english" and "unknown key" in p.message

    shutil.copy(DATA / "manual.yaml", small / "manual.yaml")
    _edit(small / "national.jsonl", '"unit": "working_days"', '"unit": "weeks"')
    problems = _import_fails(db, small)
    assert problems[0].line == 1 and problems[0].field == "processing.unit"


def test_broken_yaml_syntax(db, small):
    import_catalogue(db, small)
    _edit(small / "enrichment.yaml", '  name_en: "Birth registration"', '  name_en: "Birth registration')
    (p,) = _import_fails(db, small)
    assert p.file.endswith("enrichment.yaml") and p.line is not None and "YAML" in p.message


def test_enrichment_bad_code_and_not_utf8(db, small):
    import_catalogue(db, small)
    _edit(small / "enrichment.yaml", '"1.000656":', "1.656:")
    (p,) = _import_fails(db, small)
    assert p.field == "1.656" and p.line == 4

    shutil.copy(DATA / "enrichment.yaml", small / "enrichment.yaml")
    (small / "manual.yaml").write_bytes("procedures: []\n# \xe9".encode("latin-1"))
    (p,) = _import_fails(db, small)
    assert "UTF-8" in p.message


def test_missing_files(db, tmp_path, small):
    with pytest.raises(CatalogueError, match="no such file"):
        import_catalogue(db, tmp_path / "nope")
    (small / "fields.yaml").unlink()
    with pytest.raises(CatalogueError, match="fields.yaml"):
        import_catalogue(db, small)


def test_enrichment_is_optional_and_unknown_codes_warn(db, small):
    (small / "enrichment.yaml").unlink()
    r = import_catalogue(db, small)
    assert sorted(r.missing_en) == ["1.000656", "1.001193", "1.004873"]
    shutil.copy(DATA / "enrichment.yaml", small / "enrichment.yaml")
    with (small / "enrichment.yaml").open("a", encoding="utf-8") as f:
        f.write('"9.999999": {name_en: "Nothing"}\n')
    r = import_catalogue(db, small)
    assert r.missing_en == ["1.004873"] and any("9.999999" in w for w in r.warnings)


def test_failure_inside_the_transaction_rolls_back(db, small, monkeypatch):
    """A search index rebuild that fails (e.g. a bug) leaves the old catalogue in place."""
    import_catalogue(db, small)
    before = Catalogue(db).stats()

    def boom(conn):
        raise RuntimeError("index failed")

    monkeypatch.setattr(ci, "_rebuild_search_index", boom)
    _edit(small / "manual.yaml", "Hỗ trợ chi phí mai táng", "Hỗ trợ mai táng (mới)")
    with pytest.raises(RuntimeError):
        import_catalogue(db, small)
    assert Catalogue(db).stats() == before
    assert Catalogue(db).get("m-ho-tro-chi-phi-mai-tang") is not None


def test_version_grows_and_meta(db, small):
    r1 = import_catalogue(db, small)
    r2 = import_catalogue(db, small)
    assert (r1.version, r2.version) == (1, 2)
    meta = Catalogue(db).meta()
    assert (
        meta["version"] == "2" and meta["source_hash"] == r2.digest and meta["imported_at"].endswith("+00:00")
    )
    r3 = import_catalogue(db, small, force=False)
    assert r3.unchanged and r3.version == 2


def test_raw_portal_file_is_cleaned_on_import(db, small):
    r = import_catalogue(db, DATA / "portal-sample.jsonl", default_dir=small)
    assert r.national == 2 and r.manual == 1
    assert Catalogue(db).get("1.001193").name == "Đăng ký khai sinh"


# -- re-import while another connection reads -----------------------------------------------------


def test_reimport_while_another_connection_reads(tmp_path, small):
    path = tmp_path / "live.db"
    writer = connect(path)
    import_catalogue(writer, small)
    reader = connect(path)
    reader.execute("BEGIN")  # a long read (the kiosk rendering a list)
    assert reader.execute("SELECT count(*) FROM procedures").fetchone()[0] == 4

    _edit(
        small / "manual.yaml",
        "procedures:\n",
        "procedures:\n"
        + (DATA / "manual.yaml")
        .read_text(encoding="utf-8")
        .split("procedures:\n")[1]
        .replace("m-ho-tro-chi-phi-mai-tang", "m-second"),
    )
    r = import_catalogue(writer, small)  # WAL: the writer does not wait for the reader
    assert r.procedures == 5
    assert reader.execute("SELECT count(*) FROM procedures").fetchone()[0] == 4  # still the old snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM procedures").fetchone()[0] == 5

    # readers polling during repeated imports only ever see a whole catalogue (4 or 5 procedures)
    seen: set[int] = set()
    stop = threading.Event()
    errors: list[BaseException] = []

    def poll():
        conn = connect(path)
        try:
            while not stop.is_set():
                with_tx = conn.execute("SELECT count(*) FROM procedures").fetchone()[0]
                fields = conn.execute("SELECT count(*) FROM fields").fetchone()[0]
                seen.add(with_tx)
                assert fields == 2
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    t = threading.Thread(target=poll)
    t.start()
    try:
        for i in range(6):
            shutil.copy(DATA / "manual.yaml", small / "manual.yaml")  # 4 procedures
            if i % 2 == 0:  # 5 procedures
                _edit(
                    small / "manual.yaml",
                    "procedures:\n",
                    "procedures:\n"
                    + (DATA / "manual.yaml")
                    .read_text(encoding="utf-8")
                    .split("procedures:\n")[1]
                    .replace("m-ho-tro-chi-phi-mai-tang", "m-x"),
                )
            import_catalogue(writer, small)
    finally:
        stop.set()
        t.join(10)
    assert not errors
    assert seen <= {4, 5} and seen
    reader.close()
    writer.close()


# -- CLI ---------------------------------------------------------------------------------------------


def _config_file(tmp_path) -> Path:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    text = text.replace('catalogue: "data/procedures"', f'catalogue: "{REAL}"')
    p = tmp_path / "config.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_cli_import_stats_show(tmp_path, capsys):
    cfg = str(_config_file(tmp_path))
    assert kiosk_main(["-c", cfg, "catalogue", "import"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: catalogue version 1:")

    assert kiosk_main(["-c", cfg, "catalogue", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] >= 348 and stats["by_field"]["ho-tich"] >= 41
    assert set(stats["missing"]) >= {"code", "time", "fee", "documents"}

    assert kiosk_main(["-c", cfg, "catalogue", "show", "1.001193"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Đăng ký khai sinh\n") and "Giấy tờ phải nộp:" in out and "Căn cứ pháp lý:" in out

    assert kiosk_main(["-c", cfg, "catalogue", "show", "1.001193", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["code"] == "1.001193" and d["queue_series"] == "A" and d["processing"]["unit"] == "working_days"

    assert kiosk_main(["-c", cfg, "catalogue", "show", "9.999999"]) == 2
    assert "no procedure" in capsys.readouterr().err


def test_cli_import_of_a_broken_file_exits_2_and_keeps_the_old(tmp_path, small, capsys):
    cfg = str(_config_file(tmp_path))
    assert kiosk_main(["-c", cfg, "catalogue", "import", str(small)]) == 0
    capsys.readouterr()
    _edit(small / "manual.yaml", "field_id: bao-tro-xa-hoi", "field_id: nowhere")
    assert kiosk_main(["-c", cfg, "catalogue", "import", str(small)]) == 2
    err = capsys.readouterr().err
    assert "manual.yaml:2: field_id: unknown field id 'nowhere'" in err and "unchanged" in err
    assert kiosk_main(["-c", cfg, "catalogue", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 4


def test_cli_export_national_and_doctor(tmp_path, capsys):
    cfg = str(_config_file(tmp_path))
    out = tmp_path / "national.jsonl"
    assert (
        kiosk_main(
            ["-c", cfg, "catalogue", "export-national", str(DATA / "portal-sample.jsonl"), "--out", str(out)]
        )
        == 0
    )
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    capsys.readouterr()

    from kiosk.cli import Context
    from kiosk.commands import catalogue as cmd

    ctx = Context(cfg)
    (check,) = cmd.doctor(ctx)
    assert not check.ok and "kiosk catalogue import" in check.message
    ensure_catalogue(ctx.db, ctx.config)
    (check,) = cmd.doctor(ctx)
    assert check.ok and "procedures" in check.message and "version 1" in check.message


def test_load_source_single_yaml_part_replaces_that_part(small):
    src = load_source(small / "manual.yaml", default_dir=small)
    assert len(src.procedures) == 4

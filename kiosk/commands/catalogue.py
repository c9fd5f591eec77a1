"""`kiosk catalogue …`: import, inspect and regenerate the procedure catalogue.

kiosk catalogue import [FILE|DIR] [--json]   validate and import (atomic; the kiosk may run)
kiosk catalogue stats [--json]               counts by field and what is missing
kiosk catalogue show CODE [--json]           one procedure, readable (Vietnamese) or JSON
kiosk catalogue export-national [PORTAL] [--out FILE]
                                             clean the portal crawl into data/procedures/national.jsonl
"""

from __future__ import annotations

from pathlib import Path

from centre.catalogue import Catalogue, service_for
from centre.catalogue_import import CatalogueError, export_national, import_catalogue
from centre.catalogue_schema import ensure_schema
from kiosk.cli import JSON, Check, CliError, print_json, subcommand

DEFAULT_PORTAL = Path("/work/shared/data/procedures-national-portal.jsonl")


def register(sub) -> None:
    p = sub.add_parser("catalogue", help="import and inspect the procedure catalogue")
    csub = p.add_subparsers(dest="catalogue_command", metavar="ACTION")
    csub.required = True

    imp = csub.add_parser(
        "import",
        help="validate and import the catalogue (default: paths.catalogue of config.yaml)",
        description="Validate catalogue files and replace the catalogue in one transaction. "
        "FILE may be a directory (national.jsonl, manual.yaml, enrichment.yaml, fields.yaml), "
        "a .jsonl file (cleaned national.jsonl or the raw portal crawl, cleaned on the way) or a .yaml part.",
    )
    imp.add_argument("source", nargs="?", help="catalogue directory or file")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    imp.set_defaults(func=cmd_import)

    subcommand(csub, "stats", cmd_stats, "counts by field and procedures lacking code, time, fee or documents", JSON)
    subcommand(csub, "show", cmd_show, "show one procedure by national code or key",
               ("code", {"help": "national code such as 1.001193, or a key such as m-…"}), JSON,
               ("--lang", {"default": "vi", "choices": ["vi", "en"], "help": "language of the readable output"}))

    ex = csub.add_parser("export-national", help="clean the portal crawl into data/procedures/national.jsonl")
    ex.add_argument(
        "portal",
        nargs="?",
        default=str(DEFAULT_PORTAL),
        help="raw portal file (procedures-national-portal.jsonl)",
    )
    ex.add_argument("--out", default=None, help="output file (default: <paths.catalogue>/national.jsonl)")
    ex.set_defaults(func=cmd_export)


def _catalogue_dir(ctx) -> Path:
    cfg = ctx.config
    path = cfg.path(cfg.paths.catalogue)
    return path if path.is_dir() or not path.exists() else path.parent


def cmd_import(args, ctx) -> int:
    cfg = ctx.config
    source = Path(args.source) if args.source else cfg.path(cfg.paths.catalogue)
    try:
        report = import_catalogue(ctx.db.conn, source, default_dir=_catalogue_dir(ctx))
    except CatalogueError as exc:
        lines = "\n".join(f"  {p}" for p in exc.problems)
        raise CliError(
            f"catalogue not imported ({len(exc.problems)} problem(s)); the old catalogue is unchanged:\n{lines}"
        ) from None
    if args.json:
        print_json(report.to_dict())
        return 0
    print(f"OK: {report.summary()}")
    print(f"   from {', '.join(report.files)}")
    if not report.search_index:
        print("   note: search index not rebuilt (centre.search.rebuild_index not available)")
    for w in report.warnings:
        print(f"   warning: {w}")
    if report.missing_en:
        shown = ", ".join(report.missing_en[:12]) + (" …" if len(report.missing_en) > 12 else "")
        print(f"   without English name: {shown}")
    return 0


def cmd_stats(args, ctx) -> int:
    ensure_schema(ctx.db.conn)
    stats = Catalogue(ctx.db).stats()
    if args.json:
        print_json(stats)
        return 0
    print(
        f"catalogue version {stats['version']}: {stats['total']} procedures "
        f"({stats['by_source']['national']} national, {stats['by_source']['manual']} manual), {stats['aliases']} aliases"
    )
    m = stats["missing"]
    print(
        f"missing: code {m['code']}, time {m['time']}, fee {m['fee']}, documents {m['documents']}, English name {m['name_en']}"
    )
    for fid, n in stats["by_field"].items():
        print(f"  {n:4d}  {fid}")
    return 0


def cmd_show(args, ctx) -> int:
    ensure_schema(ctx.db.conn)
    cat = Catalogue(ctx.db)
    proc = cat.get(args.code)
    if proc is None:
        raise CliError(f"no procedure with code or key {args.code!r} (see `kiosk catalogue stats`)")
    series = service_for(proc, ctx.config)
    if args.json:
        d = proc.to_dict()
        d["queue_series"] = series
        print_json(d)
        return 0
    print(_readable(proc, series, ctx.config, args.lang))
    return 0


def _readable(p, series: str, cfg, lang: str) -> str:
    """The procedure as the kiosk's detail page and the phone page show it (centre.procedure_view)."""
    from centre.procedure_view import FeeTable, render_text, view

    svc = cfg.service(series)
    counters = ", ".join(c.name.get(lang) for c in cfg.counters if series in c.services)
    where = f"{counters} ({svc.name.get(lang)})" if counters else svc.name.get(lang)
    return render_text(view(p, lang, fees=FeeTable.cached(cfg)), where)


def cmd_export(args, ctx) -> int:
    portal = Path(args.portal)
    if not portal.exists():
        raise CliError(f"{portal}: no such file (give the path of procedures-national-portal.jsonl)")
    out = Path(args.out) if args.out else _catalogue_dir(ctx) / "national.jsonl"
    try:
        n = export_national(portal, out)
    except CatalogueError as exc:
        raise CliError(str(exc)) from None
    print(f"OK: {n} procedures cleaned into {out}; run `kiosk catalogue import` to load them")
    return 0


def doctor(ctx) -> list[Check]:
    try:
        conn = ctx.db.conn
        ensure_schema(conn)
        cat = Catalogue(conn)
        stats = cat.stats()
    except Exception as exc:  # noqa: BLE001 - a doctor line reports any failure
        return [Check("catalogue", False, f"cannot read the catalogue: {exc} — run `kiosk catalogue import`")]
    if stats["total"] == 0:
        return [Check("catalogue", False, "empty — run `kiosk catalogue import` (imports data/procedures)")]
    missing = cat.missing_english()
    msg = f"{stats['total']} procedures in {len(stats['by_field'])} fields, version {stats['version']}"
    if missing:
        msg += (
            f"; {len(missing)} without an English name ("
            + ", ".join(missing[:5])
            + (" …" if len(missing) > 5 else "")
            + ")"
        )
    return [Check("catalogue", True, msg)]

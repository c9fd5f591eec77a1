"""`kiosk dossier ...`: import the one-stop platform's export, look up a dossier, list deadlines."""

from __future__ import annotations

import json
from datetime import datetime

from centre.dossiers import Dossiers, ImportFileError, mask_name, mask_phone
from centre.workdays import HolidayFileError, load_calendar
from kiosk.cli import JSON, Check, CliError, print_json, subcommand

#: the staff API's limit (/api/dossiers/due?days=) and config's dossiers.due_soon_working_days's
MAX_DUE_DAYS = 60


def register(sub) -> None:
    p = sub.add_parser("dossier", help="dossiers (hồ sơ): import, lookup, deadlines")
    dsub = p.add_subparsers(dest="dossier_command", metavar="ACTION")
    dsub.required = True
    subcommand(dsub, "import", cmd_import, "import a CSV, Excel or JSON export of the one-stop platform",
               ("file", {"help": "the export file (.csv, .xlsx or .json; columns: dossiers.import_columns)"}), JSON)
    subcommand(dsub, "show", cmd_show, "show one dossier by its receipt code (personal data masked)",
               ("code", {"help": "the receipt code (Mã hồ sơ)"}), JSON,
               ("--unmasked", {"action": "store_true", "help": "staff only: show full name and phone"}))
    subcommand(dsub, "due", cmd_due, "open dossiers that are late or due within N working days",
               ("--days", {"type": int, "default": None, "help": "working days ahead (default: config)"}), JSON)
    subcommand(dsub, "digest", cmd_digest, "the daily summary report",
               ("--date", {"default": None, "help": "YYYY-MM-DD (default: today)"}), JSON)


def _register(ctx) -> Dossiers:
    try:
        return Dossiers.from_config(ctx.db.conn, ctx.config)
    except HolidayFileError as exc:
        raise CliError(str(exc)) from None


def cmd_import(args, ctx) -> int:
    try:
        report = _register(ctx).import_file(args.file)
    except (ImportFileError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = str(exc)  # some errors already start with the file's name
        raise CliError(message if message.startswith(str(args.file)) else f"{args.file}: {message}") from None
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"{report.inserted} new, {report.updated} updated, {report.unchanged} unchanged, "
              f"{len(report.errors)} rejected")
        for e in report.errors:
            print(f"  {args.file}: line {e.line}: {e.reason}")
    return 0 if not report.errors else 1


def cmd_show(args, ctx) -> int:
    reg = _register(ctx)
    d = reg.get(args.code)
    if d is None:
        raise CliError(f"no dossier with receipt code {args.code.strip()!r} — check the code on the receipt")
    out = {
        "code": d.code, "procedure_code": d.procedure_code, "procedure_name": d.procedure_name,
        "applicant_name": d.applicant_name if args.unmasked else mask_name(d.applicant_name),
        "applicant_phone": d.applicant_phone if args.unmasked else mask_phone(d.applicant_phone),
        "received_at": d.received_at.isoformat(timespec="minutes"),
        "due_at": d.due_at.isoformat() if d.due_at else None, "due_source": d.due_source,
        "state": d.state, "counter": d.counter, "officer": d.officer,
        "missing_documents": d.missing_documents, "history": reg.history(d.code),
    }
    _print_mapping(out, args.json, 18)
    return 0


def _summary(d) -> dict:
    return {"code": d.code, "procedure_code": d.procedure_code, "procedure_name": d.procedure_name,
            "field_id": d.field_id, "state": d.state, "due_at": d.due_at.isoformat() if d.due_at else None,
            "officer": d.officer, "counter": d.counter, "applicant": mask_name(d.applicant_name)}


def cmd_due(args, ctx) -> int:
    days = args.days if args.days is not None else ctx.config.dossiers.due_soon_working_days
    if not 0 <= days <= MAX_DUE_DAYS:
        raise CliError(f"--days must be from 0 to {MAX_DUE_DAYS} working days, not {days}")
    due = _register(ctx).due(within_working_days=days)
    if args.json:
        print_json({k: [_summary(d) for d in v] for k, v in due.items()})
    else:
        for kind in ("late", "due_soon"):
            print(f"{kind} ({len(due[kind])})")
            for d in due[kind]:
                print(f"  {d.due_at}  {d.code:28} {d.state:22} {d.officer or '-':16} {d.procedure_name[:60]}")
    return 0


def cmd_digest(args, ctx) -> int:
    try:
        day = datetime.strptime(args.date, "%Y-%m-%d").date() if args.date else None
    except ValueError:
        raise CliError(f"--date {args.date!r} is not YYYY-MM-DD") from None
    if day is not None and not 1900 <= day.year <= 2999:  # 9999-12-31 overflowed the working-day arithmetic
        raise CliError(f"--date {args.date!r} is not a date of the years 1900 to 2999")
    dig = _register(ctx).digest(day=day, within_working_days=ctx.config.dossiers.due_soon_working_days)
    _print_mapping(dig, args.json, 22)
    return 0


def _print_mapping(d: dict, as_json: bool, width: int) -> None:
    """`d` as JSON, or one "key  value" line per item."""
    if as_json:
        print_json(d)
    else:
        for k, v in d.items():
            print(f"{k:{width}} {v}")


def doctor(ctx) -> list[Check]:
    cfg = ctx.config
    path = cfg.path(cfg.paths.holidays)
    try:
        cal = load_calendar(path)
    except HolidayFileError as exc:
        return [Check("holidays", False, f"{exc} — restore data/holidays.yaml")]
    year = datetime.now(cfg.centre.tz).year
    if year not in cal.years_with_tet:
        return [Check("holidays", False, f"{path} has no Tết Nguyên đán dates for {year}: add the official "
                      "holiday schedule so dossier due dates are right")]
    return [Check("holidays", True, f"{path}: holidays listed for {year}")]

"""`kiosk ticket ...`: issue, call and manage queue tickets; render and print them; doctor checks.

A thin layer over `centre.queue.Queue`, `centre.tickets` and `centre.printing`: it parses
arguments, calls the core and prints the result (one JSON object with --json).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sqlite3
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from centre.queue import TICKET_STATES, CurrentNotStarted, Queue, QueueError, Ticket
from kiosk.cli import Check, CliError, print_json

#: --current on the command line (words as the console says them) → the queue's `current` choices
CURRENT_ANSWERS = {"ask": "ask", "no-show": "no_show", "serve": "serve"}
#: a ticket code as the queue prints it (series letter, 3-4 digits), the API's current_code pattern
TICKET_CODE_RE = re.compile(r"[A-Z][0-9]{3,4}")


def register(sub) -> None:
    p = sub.add_parser("ticket", help="queue tickets: issue, call, serve, transfer, list, render, print")
    t = p.add_subparsers(dest="ticket_command", metavar="ACTION")
    t.required = True

    def add(name, fn, help_, *, ref=False, actor=True, json_=True):
        a = t.add_parser(name, help=help_)
        if ref:
            a.add_argument("ref", metavar="ID", help="ticket id, token, or today's code such as A012")
        if actor:
            a.add_argument("--actor", default=None, help="who does this (default: cli:<user>)")
        if json_:
            a.add_argument("--json", action="store_true", help="print JSON")
        a.set_defaults(func=fn)
        return a

    a = add("issue", cmd_issue, "issue a ticket")
    a.add_argument("service_letter", nargs="?", metavar="SERVICE", help="service series letter, as --service")
    a.add_argument("--service", "-s", help="service series letter (e.g. A); optional with --procedure")
    a.add_argument("--priority", help="priority group key (see config.yaml priority_groups)")
    a.add_argument("--procedure", help="catalogue procedure key or official code")
    a.add_argument("--lang", default="vi", choices=["vi", "en"], help="ticket language")
    a.add_argument("--ignore-hours", action="store_true", help="issue even outside opening hours (staff)")
    a.add_argument("--print", dest="do_print", action="store_true", help="also print it")

    a = add("call", cmd_call, "call the next ticket to a counter")
    a.add_argument("--counter", "-k", type=int, required=True, help="counter id")
    a.add_argument("--ticket", help="call this ticket instead of the next one")
    a.add_argument("--current", choices=CURRENT_ANSWERS, default="ask",
                   help="what happened to the counter's called ticket that never started (default: ask)")
    a.add_argument("--current-code", type=_ticket_code, metavar="CODE",
                   help="the ticket --current is about (e.g. A012): if the counter holds another, it is asked about")

    for name, help_ in (("recall", "announce a called ticket again"), ("start", "the citizen is at the counter"),
                        ("serve", "serving finished"), ("no-show", "the called citizen did not come"),
                        ("cancel", "cancel a ticket")):
        add(name, cmd_transition, help_, ref=True).set_defaults(action=name.replace("-", "_"))

    a = add("transfer", cmd_transfer, "send a ticket to another service or counter (keeps its place)", ref=True)
    a.add_argument("--service", "-s", help="series letter of the new service")
    a.add_argument("--counter", "-k", type=int, help="counter id that alone may call it")

    a = add("list", cmd_list, "list tickets (today by default)", actor=False)
    a.add_argument("--state", choices=TICKET_STATES, help="only tickets in this state")
    a.add_argument("--service", "-s", help="only this service's tickets (series letter, e.g. A)")
    a.add_argument("--day", help="YYYY-MM-DD, or 'all'")

    add("status", cmd_status, "a ticket's state, people ahead and estimated wait", ref=True, actor=False)

    a = add("render", cmd_render, "render a ticket as PNG", ref=True, actor=False, json_=False)
    a.add_argument("--out", "-o", required=True, help="PNG file to write")
    a.add_argument("--lang", choices=["vi", "en"], help="language (default: the ticket's)")

    a = add("print", cmd_print, "print a ticket on the configured printer", ref=True, actor=False)
    a.add_argument("--lang", choices=["vi", "en"], help="language (default: the ticket's)")

    add("counters", cmd_counters, "counters, their services and states", actor=False)
    a = add("counter-state", cmd_counter_state, "open, pause or close a counter")
    a.add_argument("counter", type=int, help="counter id (see `kiosk ticket counters`)")
    a.add_argument("state", choices=["open", "paused", "closed"], help="the counter's new state")

    add("expire", cmd_expire, "expire earlier days' waiting tickets (also automatic)")


# -- helpers -------------------------------------------------------------------------------


def _queue(ctx, *, local_on_a_second_kiosk: bool = False) -> Queue:
    url = ctx.config.centre.url
    if url and not local_on_a_second_kiosk:
        # a second kiosk (centre.url): its local database is no one's queue; a ticket issued there is never called
        raise CliError(f"this PC takes its tickets from the staff server {url} (centre.url); "
                       "run `kiosk ticket ...` on that server, or use its counter console")
    try:
        return Queue(ctx.db, ctx.config)
    except QueueError as exc:
        raise CliError(str(exc)) from None


def _ticket_code(text: str) -> str:
    """A ticket code as the console shows it ("a012" → "A012"), for --current-code."""
    code = text.strip().upper()
    if not TICKET_CODE_RE.fullmatch(code):
        raise argparse.ArgumentTypeError(f"{text!r} is not a ticket code such as A012")
    return code


def _actor(args) -> str:
    if getattr(args, "actor", None):
        return args.actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _show(args, t: Ticket | None, q: Queue, extra: dict | None = None) -> None:
    if t is None:
        if args.json:
            print_json(None)
        else:
            print("nobody is waiting")
        return
    if args.json:
        print_json({**t.to_dict(), **(extra or {})})
        return
    local = q.local(t.issued_at)
    where = f" at counter {t.counter_id}" if t.counter_id else ""
    line = f"{t.code}  {t.state}{where}  service {t.service}  issued {local:%H:%M %d/%m/%Y}  id {t.id}"
    if t.priority:
        line += f"  priority {t.priority}"
    if extra:
        line += "  " + "  ".join(f"{k} {v}" for k, v in extra.items())
    print(line)


def _run(fn):
    try:
        return fn()
    except QueueError as exc:
        raise CliError(str(exc)) from None


def _procedure(ctx, code: str) -> tuple[str, str | None]:
    """(procedure key, service series the catalogue assigns) for a procedure key or official code."""
    from centre.catalogue import Catalogue

    cat = Catalogue(ctx.db)
    proc = cat.get(code)
    if proc is None:
        raise CliError(f"there is no procedure {code!r} in the catalogue (import it with `kiosk catalogue import`)")
    return proc.key, cat.service_for(proc.key, ctx.config)


# -- commands ------------------------------------------------------------------------------


def cmd_issue(args, ctx) -> int:
    q = _queue(ctx)
    if args.service and args.service_letter and args.service.upper() != args.service_letter.upper():
        raise CliError(f"two services given: {args.service_letter} and --service {args.service}")
    key, series = None, args.service or args.service_letter
    if args.procedure:
        key, from_catalogue = _procedure(ctx, args.procedure)
        series = series or from_catalogue
    if not series:
        raise CliError("say which service: --service A (or a --procedure the catalogue assigns to a service)")
    t = _run(lambda: q.issue(series.upper(), priority=args.priority, procedure_key=key, source="cli",
                             lang=args.lang, actor=_actor(args), ignore_hours=args.ignore_hours))
    st = q.status(t)
    extra = {"ahead": st.ahead, "wait_min": st.wait_min}
    if args.do_print:
        extra["printed"] = _print(ctx, q, t, args.lang).to_dict()
    _show(args, t, q, extra)
    return 0


def cmd_call(args, ctx) -> int:
    q = _queue(ctx)
    answer = {"current": CURRENT_ANSWERS[args.current], "current_code": args.current_code}

    def call():
        try:
            if args.ticket:
                return q.call(args.ticket, args.counter, actor=_actor(args), **answer)
            return q.call_next(args.counter, actor=_actor(args), **answer)
        except CurrentNotStarted as exc:  # say how to answer, naming the ticket asked about
            raise CliError(f"{exc} (add --current no-show or --current serve, "
                           f"with --current-code {exc.code})") from None

    t = _run(call)
    _show(args, t, q)
    return 0


def cmd_transition(args, ctx) -> int:
    q = _queue(ctx)
    t = _run(lambda: getattr(q, args.action)(args.ref, actor=_actor(args)))
    _show(args, t, q)
    return 0


def cmd_transfer(args, ctx) -> int:
    if not args.service and args.counter is None:
        raise CliError("say where to: --service B and/or --counter 2")
    q = _queue(ctx)
    t = _run(lambda: q.transfer(args.ref, service=args.service.upper() if args.service else None,
                                counter=args.counter, actor=_actor(args)))
    _show(args, t, q)
    return 0


def cmd_list(args, ctx) -> int:
    if args.day not in (None, "all"):
        try:
            date.fromisoformat(args.day)
        except ValueError:
            raise CliError(f"--day {args.day!r} is not a date like 2026-11-25 (or 'all')") from None
    q = _queue(ctx)
    tickets = _run(lambda: q.list(state=args.state, series=args.service.upper() if args.service else None,
                                  day=args.day))
    if args.json:
        print_json([t.to_dict() for t in tickets])
        return 0
    if not tickets:
        print("no tickets")
    for t in tickets:
        _show(args, t, q)
    return 0


def cmd_status(args, ctx) -> int:
    q = _queue(ctx)
    st = _run(lambda: q.status(args.ref))
    if args.json:
        print_json(st.to_dict())
    else:
        _show(args, st.ticket, q, {"ahead": st.ahead, "wait_min": st.wait_min,
                                   "counters": ",".join(str(c.id) for c in st.counters)})
    return 0


def _image(q: Queue, t: Ticket, lang: str | None):
    from centre.tickets import render_ticket, ticket_content

    return render_ticket(ticket_content(q, t, lang=lang), q.cfg.printer.paper_width_px)


def cmd_render(args, ctx) -> int:
    q = _queue(ctx, local_on_a_second_kiosk=True)
    t = _run(lambda: q.resolve(args.ref))
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _image(q, t, args.lang).save(out, format="PNG")
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc}") from None
    print(out)
    return 0


def _print(ctx, q: Queue, t: Ticket, lang: str | None):
    from centre.printing import print_ticket

    return print_ticket(_image(q, t, lang), ctx.config, conn=ctx.db, ticket_id=t.id)


def cmd_print(args, ctx) -> int:
    q = _queue(ctx, local_on_a_second_kiosk=True)
    t = _run(lambda: q.resolve(args.ref))
    result = _print(ctx, q, t, args.lang)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"printed {t.code} on {result.printer}" if result.ok
              else f"NOT printed ({result.printer}): {result.message}")
    return 0 if result.ok else 1


def cmd_counters(args, ctx) -> int:
    q = _queue(ctx)
    counters = _run(q.counters)
    if args.json:
        print_json([c.to_dict() for c in counters])
        return 0
    for c in counters:
        cur = q.current_ticket(c.id)
        print(f"{c.id:>2}  {c.name_vi:<12} {c.state:<7} services {','.join(c.services):<8}"
              f"{'  now ' + cur.code if cur else ''}")
    return 0


def cmd_counter_state(args, ctx) -> int:
    q = _queue(ctx)
    c = _run(lambda: q.set_counter_state(args.counter, args.state, actor=_actor(args)))
    if args.json:
        print_json(c.to_dict())
    else:
        print(f"counter {c.id} is {c.state}")
    return 0


def cmd_expire(args, ctx) -> int:
    q = _queue(ctx)
    n = _run(lambda: q.expire_day(actor=_actor(args)))
    if args.json:
        print_json({"expired": n})
    else:
        print(f"{n} ticket(s) expired")
    return 0


# -- doctor --------------------------------------------------------------------------------


def doctor(ctx) -> list[Check]:
    from centre import printing
    from centre.tickets import FONT_BOLD, FONT_LICENCE, FONT_REGULAR

    checks = []
    remote = ctx.config.centre.url
    try:
        if remote:  # a kiosk on another PC: its queue is the staff server's, reached with centre.token
            from staff.client import open_queue

            q = open_queue(ctx.config)
        else:
            q = Queue(ctx.db, ctx.config)
        counts = q.waiting_counts()
        open_ = [c.id for c in q.counters() if c.state == "open"]
        checks.append(Check("queue", True, (f"on {remote}: " if remote else "") +
                            f"{sum(counts.values())} waiting today; open counters: "
                            f"{', '.join(map(str, open_)) or 'none'}"))
        if not remote:
            checks.append(_hours_check(ctx.config, q.services()))
            fields_check = _service_fields_check(ctx.db.conn, q.services())
            if fields_check is not None:
                checks.append(fields_check)
    except (QueueError, RuntimeError, sqlite3.Error) as exc:
        checks.append(Check("queue", False, f"{exc}" + ("" if remote else " — check the database file")))
    missing = [p.name for p in (FONT_REGULAR, FONT_BOLD, FONT_LICENCE) if not p.exists()]
    checks.append(Check("ticket font", not missing,
                        "DejaVu Sans present" if not missing else f"missing {', '.join(missing)} in assets/fonts"))
    ok, message = printing.probe(ctx.config.printer)
    try:
        last = printing.last_failure_text(ctx.db)
    except (sqlite3.Error, RuntimeError):
        last = None
    if last:
        message += f"; {last}"
    checks.append(Check("printer", ok, f"{printing.describe(ctx.config.printer)}: {message}"))
    checks.append(_qr_address_check(ctx.config.centre.base_url))
    return checks


def _hours_check(cfg, services) -> Check:
    """Say which services' hours were set in Administration: they override config.yaml from then on."""
    from_config = {s.series: (s.opening_hours or cfg.opening_hours) for s in cfg.services}
    overridden = [s.series for s in services if from_config.get(s.series) != s.opening_hours]
    closed = [s.series for s in services if s.closed]
    parts = []
    if overridden:
        parts.append(f"services {', '.join(overridden)} use the hours set in Administration (the browser); "
                     "config.yaml's opening_hours no longer apply to them")
    if closed:
        parts.append(f"services {', '.join(closed)} are closed by an administrator")
    return Check("opening hours", True, "; ".join(parts) or "as in config.yaml")


def _service_fields_check(conn, services) -> Check | None:
    """Every catalogue field and procedure a service names must exist: a misspelt field id
    silently sent its procedures to the catch-all service. None before a catalogue is imported."""
    try:
        fields = {r[0] for r in conn.execute("SELECT id FROM fields")}
        procedures = {r[0] for r in conn.execute("SELECT key FROM procedures")}
    except sqlite3.Error:
        return None
    if not fields:
        return None
    unknown = [f"{s.series}: field {f!r}" for s in services for f in s.fields if f not in fields]
    unknown += [f"{s.series}: procedure {p!r}" for s in services for p in s.procedures if p not in procedures]
    if unknown:
        return Check("service fields", False, f"not in the catalogue: {'; '.join(unknown)} — their procedures "
                     "go to another service; fix services[].fields in config.yaml (see `kiosk catalogue stats`)")
    return Check("service fields", True, "every field and procedure named by a service is in the catalogue")


def _qr_address_check(base_url: str) -> Check:
    """The ticket QR opens base_url/t/...: a loopback address works on this PC only, not on phones."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.startswith("127.") or host == "::1":
        return Check("ticket QR", False,
                     f"centre.base_url is {base_url}, which citizens' phones cannot open — set it to this "
                     "PC's address on the centre's Wi-Fi (e.g. http://192.168.1.10:8080) and staff.host to 0.0.0.0")
    return Check("ticket QR", True, f"tickets link to {base_url}/t/… (phones on the centre's Wi-Fi must reach it)")

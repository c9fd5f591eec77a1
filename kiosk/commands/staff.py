"""Staff server commands: `kiosk serve`, `kiosk users ...`, `kiosk report`."""

from __future__ import annotations

import errno
import getpass
import os
import sys
from datetime import date, timedelta

from centre.terminal import PasswordInputError, read_new_password
from kiosk.cli import JSON, Check, CliError, print_json, subcommand


def register(sub) -> None:
    s = sub.add_parser("serve", help="run the staff web server (counter consoles, hall display, admin, API)")
    s.add_argument("--host", default=None, help="address to listen on (default: staff.host in config)")
    s.add_argument("--port", type=int, default=None, help="port (default: staff.port in config)")
    s.set_defaults(func=cmd_serve)

    u = sub.add_parser("users", help="staff accounts: add, list, set a password, make API tokens")
    us = u.add_subparsers(dest="users_command", metavar="ACTION")
    us.required = True
    add = us.add_parser("add", help="add a user (the password is asked for, or read from stdin)")
    add.add_argument("name", help="login name: 2-32 of a-z 0-9 . _ - (e.g. cb.hoa)")
    add.add_argument("--role", required=True, choices=["admin", "officer", "display", "kiosk"],
                     help="admin: administration; officer: a counter's console; display: the hall TV; "
                          "kiosk: a second kiosk's API access")
    add.add_argument("--counter", type=int, action="append", default=[], help="counter id (officers; repeatable)")
    add.add_argument("--full-name", default="", help="the person's full name (shown in the staff pages)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--token", action="store_true", help="also print an API token (remote kiosks)")
    add.set_defaults(func=cmd_users_add)
    subcommand(us, "list", cmd_users_list, "list users", JSON)
    subcommand(us, "passwd", cmd_users_passwd, "set a user's password (ends their sessions)",
               ("name", {"help": "login name"}),
               ("--password-stdin", {"action": "store_true", "help": "read the password from the first line of stdin"}))
    subcommand(us, "token", cmd_users_token, "make an API bearer token for a user (e.g. a remote kiosk)",
               ("name", {"help": "login name"}),
               ("--label", {"default": "", "help": "a note saying where the token is used, e.g. kiosk-2"}))

    r = sub.add_parser("report", help="queue report for a day or a range (tickets, waits, service level, ratings)")
    r.add_argument("--date", default=None, help="YYYY-MM-DD (default: today), or the start with --to")
    r.add_argument("--to", default=None, help="last day of a range, YYYY-MM-DD")
    fmt = r.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV to stdout")
    fmt.add_argument("--json", action="store_true", help="JSON to stdout")
    r.set_defaults(func=cmd_report)


def _conn(ctx):
    from centre import audit, users

    conn = ctx.db.conn
    users.ensure_schema(conn)
    audit.ensure_schema(conn)
    return conn


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no user name in a container: still say it came from the command line
        return "cli"


def _read_password(args, name: str) -> str:
    try:
        return read_new_password(name, args.password_stdin)
    except PasswordInputError as exc:
        raise CliError(str(exc)) from None


def cmd_users_add(args, ctx) -> int:
    from centre import audit, users

    conn = _conn(ctx)
    cfg = ctx.config
    valid = _counter_ids(ctx)
    if args.role == "kiosk" and args.token and not args.password_stdin:
        # a remote kiosk signs in with its token only: no password to ask for (nor to leak)
        import secrets

        password = secrets.token_urlsafe(32)
    else:
        password = _read_password(args, args.name)
    try:
        u = users.create_user(conn, args.name, args.role, password, counters=args.counter, full_name=args.full_name,
                              valid_counters=valid)
    except users.UserError as exc:
        hint = f" (counters: {', '.join(map(str, valid))})" if "does not exist" in str(exc) else ""
        raise CliError(f"{exc}{hint}") from None
    audit.record(conn, _actor(), "user.create", entity="user", key=u.id, after=u.to_dict())
    print(f"added {u.role} {u.name}" + (f" (counters {', '.join(map(str, u.counters))})" if u.counters else ""))
    if args.token:
        print(users.create_api_token(conn, u.id, "cli"))
    del cfg
    return 0


def _counter_ids(ctx) -> list[int]:
    from centre.queue import Queue

    return [c.id for c in Queue(ctx.db.conn, ctx.config).counters()]


def cmd_users_list(args, ctx) -> int:
    from centre import users

    rows = [u.to_dict() for u in users.list_users(_conn(ctx))]
    if args.json:
        for r in rows:
            print_json(r)
    else:
        for r in rows:
            counters = ",".join(map(str, r["counters"]))
            print(f"{r['name']:<20} {r['role']:<8} {counters:<8} {'active' if r['active'] else 'disabled'}")
    return 0


def _user_action(args, ctx, act):
    """Run `act(conn, user)` for the user named in `args`; a user error is the CLI's one-line error."""
    from centre import users

    conn = _conn(ctx)
    try:
        return act(conn, users.get_user(conn, args.name.lower()))
    except users.UserError as exc:
        raise CliError(str(exc)) from None


def cmd_users_passwd(args, ctx) -> int:
    from centre import audit, users

    def change(conn, u):
        users.update_user(conn, u.id, password=_read_password(args, u.name))
        audit.record(conn, _actor(), "user.password", entity="user", key=u.id)
        print(f"password of {u.name} changed; their sessions ended")

    _user_action(args, ctx, change)
    return 0


def cmd_users_token(args, ctx) -> int:
    from centre import audit, users

    def token(conn, u):
        print(users.create_api_token(conn, u.id, args.label))
        audit.record(conn, _actor(), "user.token", entity="user", key=u.id, after={"label": args.label})

    _user_action(args, ctx, token)
    return 0


def cmd_serve(args, ctx) -> int:
    from centre import users
    from staff.server import serve

    cfg = ctx.config
    if not users.count_admins(_conn(ctx)):
        print("no administrator yet: create one with  kiosk users add NAME --role admin", file=sys.stderr)
    host = args.host or cfg.staff.host
    port = args.port or cfg.staff.port
    _check_can_listen(host, port)
    print(f"staff server on http://{host}:{port}  (API docs at /docs)", flush=True)
    try:
        serve(cfg, host=host, port=port)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc}") from None
    except SystemExit as exc:  # uvicorn exits with 3 when it cannot start
        if exc.code not in (None, 0):
            raise CliError(f"the staff server could not start on {host}:{port} (see the message above)") from None
    return 0


def _check_can_listen(host: str, port: int) -> None:
    """Refuse a bad port or an address already in use with one line (uvicorn printed a traceback,
    or announced the server and then exited with status 3)."""
    import socket

    if not 0 < port < 65536:
        raise CliError(f"port {port} is not a TCP port (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            hint = " (another staff server or program uses it: stop it, or use --port)" \
                if exc.errno == errno.EADDRINUSE else ""
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None


def _parse_day(text: str | None, default: date) -> date:
    if text is None:
        return default
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{text!r} is not a date like 2025-03-31") from None
    if not 1900 <= day.year <= 2999:  # 9999-12-31: the working-day arithmetic ran past the last date Python has
        raise CliError(f"{text!r} is not a date of the years 1900 to 2999")
    return day


def cmd_report(args, ctx) -> int:
    from datetime import datetime

    from centre import reports
    from centre.queue import Queue

    cfg = ctx.config
    qu = Queue(ctx.db.conn, cfg)
    today = datetime.now(cfg.centre.tz).date()
    start = _parse_day(args.date, today)
    end = _parse_day(args.to, start)
    if end < start:
        raise CliError(f"--to {end} is before --date {start}")
    if end - start > timedelta(days=366):
        raise CliError("a report covers at most one year")
    rep = reports.report_for(qu, start, end)
    if args.csv:
        sys.stdout.write(reports.report_csv(rep))
    elif args.json:
        print_json(rep.to_dict())
    else:
        sys.stdout.write(reports.report_text(rep))
    return 0


def doctor(ctx) -> list[Check]:
    from centre import users

    if ctx.config.centre.url:  # a kiosk on another PC: accounts live on that server
        return [Check("staff users", True, f"kept by the centre's server {ctx.config.centre.url} (centre.url)")]
    try:
        conn = _conn(ctx)
    except Exception as exc:  # the database check in core reports the cause
        return [Check("staff", False, f"cannot read the users table: {exc}")]
    n = users.count_admins(conn)
    checks = [Check("staff users", n > 0, f"{n} administrator(s)" if n else
                    "no administrator: run `kiosk users add NAME --role admin`")]
    cfg = ctx.config
    if cfg.staff.host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("STAFF_BEHIND_TLS"):
        checks.append(Check("staff server", True, f"listens on {cfg.staff.host}:{cfg.staff.port} (LAN); "
                            "put it behind HTTPS if the network is not trusted"))
    return checks

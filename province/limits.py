"""Request bodies on the hub: refused over their limit with 413 before they cost memory.

`HubBodyLimit` (the staff server's `staff.httpguard.BodyLimit`, outermost) answers 413 at once
when `Content-Length` is over the path's limit, and counts a chunked body as it arrives,
stopping at the limit: the login and password forms get `FORM_BODY`, the ingest `INGEST_BODY`. `gunzip` inflates a gzip
batch up to `INGEST_JSON` bytes (a small "gzip bomb" must not become gigabytes).
"""

from __future__ import annotations

import zlib

from staff.httpguard import BodyLimit, strict_json

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
    """JSON from bytes, with one reading only (staff.httpguard.strict_json, as the staff server's
    bodies): ValueError for anything that is not JSON (bad UTF-8, too deep, a syntax error) and
    NotStrictJson (a ValueError) for what json.loads would silently read one way — a key given
    twice in one object (`{"id": 1, "id": 2}`: the last won, while the ward's outbox or a log may
    read the first), NaN or Infinity, a number read as infinity, an integer of thousands of digits."""
    return strict_json(raw)

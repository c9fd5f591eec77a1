"""Request bodies on the hub: refused over their limit with 413 before they cost memory.

`BodyLimit` (a plain ASGI middleware, outermost) answers 413 at once when `Content-Length` is
over the path's limit, and counts a chunked body as it arrives, stopping at the limit: the
login and password forms get `FORM_BODY`, the ingest `INGEST_BODY`. `gunzip` inflates a gzip
batch up to `INGEST_JSON` bytes (a small "gzip bomb" must not become gigabytes).
"""

from __future__ import annotations

import json
import zlib

INGEST_PATH = "/api/v1/ingest"
INGEST_BODY = 64 * 1024 * 1024   # bytes on the wire (gzip or plain JSON)
INGEST_JSON = 64 * 1024 * 1024   # bytes of JSON once inflated (20,000 events are ~12 MB)
FORM_BODY = 64 * 1024            # login and password forms


class TooLarge(Exception):
    """A body (or an inflated batch) is over its limit."""


class BodyLimit:
    """413 for a body over its path's limit, by Content-Length or by counting a chunked body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = INGEST_BODY if scope.get("path") == INGEST_PATH else FORM_BODY
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await too_large(send)
        seen = 0
        state = {"over": False, "sent": False}

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                state["over"] = True
                raise TooLarge()
            return message

        async def guarded(message):
            if not state["over"]:
                return await send(message)
            if not state["sent"]:  # a parser turned our exception into its own answer: ours instead
                state["sent"] = True
                await too_large(send)

        try:
            await self.app(scope, counted, guarded)
        except TooLarge:
            if not state["sent"]:
                await too_large(send)


async def too_large(send) -> None:
    body = b'{"detail":"request body too large"}'
    try:
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
    except Exception:  # noqa: BLE001 - the answer had already started: the connection just closes
        pass


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

"""Per-centre credentials: a random token each, stored on the hub as its SHA-256 only.

A token is 32 random bytes (256 bits), so a fast hash is enough: nobody can guess one, and a
leaked hub database does not give the tokens. The centre keeps its token in the file named
by config.yaml `province.token_file`.
"""

from __future__ import annotations

import hashlib
import re
import secrets

import psycopg

#: A ward centre's id, as its config.yaml may write it (centre.config.ProvinceSection.centre_id,
#: the id each sync request carries): lower-case ASCII letters, digits, '-' and '_', starting with
#: a letter or digit, at most 64 characters. An id outside it could never be sent by a ward.
CENTRE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
CENTRE_ID_RULE = "lower-case ASCII letters, digits, '-' and '_', starting with a letter or digit, 1 to 64 characters"


class UnknownCentre(PermissionError):
    """The token matches no centre (wrong, revoked or missing)."""


class BadCentreId(ValueError):
    """A centre id no ward's config.yaml could hold (`CENTRE_ID_PATTERN`)."""


def check_centre_id(centre_id: str) -> str:
    """`centre_id` when a ward's config could send it, else BadCentreId naming the rule."""
    if not re.fullmatch(CENTRE_ID_PATTERN, centre_id):
        raise BadCentreId(f"centre id {centre_id!r} is not one a ward's config.yaml (province.centre_id) can hold: "
                          f"{CENTRE_ID_RULE} (e.g. 'mong-duong' for Phường Mông Dương)")
    return centre_id


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def add_centre(conn: psycopg.Connection, centre_id: str, name: str = "", *, token: str | None = None) -> str:
    """Register a centre (or give it a new token); returns the token to put on the centre."""
    token = token or secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO centres(centre_id, name, token_sha256) VALUES (%s, %s, %s) "
        "ON CONFLICT (centre_id) DO UPDATE SET token_sha256 = excluded.token_sha256, "
        "name = COALESCE(NULLIF(excluded.name, ''), centres.name)",
        (centre_id, name, hash_token(token)))
    return token


def centre_for_token(conn: psycopg.Connection, token: str) -> str:
    row = conn.execute("SELECT centre_id FROM centres WHERE token_sha256 = %s", (hash_token(token),)).fetchone()
    if row is None:
        raise UnknownCentre("unknown token")
    return row[0]

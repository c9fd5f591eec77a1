"""Per-centre credentials: a random token each, stored on the hub as its SHA-256 only.

A token is 32 random bytes (256 bits), so a fast hash is enough: nobody can guess one, and a
leaked hub database does not give the tokens. The centre keeps its token in the file named
by config.yaml `province.token_file`.
"""

from __future__ import annotations

import hashlib
import secrets

import psycopg


class UnknownCentre(PermissionError):
    """The token matches no centre (wrong, revoked or missing)."""


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

"""Citizen ratings (1-5) of a served ticket, stored beside the ticket (pure core, SQLite).

One rating per ticket, only once it is served, within `MAX_AGE_H` hours of being served (a
ticket found on the floor next week cannot be used to rate). Reports join this table.
"""

from __future__ import annotations

import sqlite3
import time

from centre.db import migrate

MAX_AGE_H = 24
MIGRATIONS = [
    """
    CREATE TABLE ticket_ratings (
        ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
        rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
        at REAL NOT NULL,
        via TEXT NOT NULL DEFAULT 'status_page'   -- status_page | counter | kiosk
    );
    """,
]


class RatingError(ValueError):
    """The rating cannot be stored (not 1-5, ticket not served, too late, or already rated)."""


class AlreadyRated(RatingError):
    """This ticket has a rating already."""


def ensure_schema(conn) -> None:
    """Create or upgrade the ratings table (the queue tables must exist)."""
    migrate(conn, "ratings", MIGRATIONS)


def get_rating(conn, ticket_id: int) -> int | None:
    row = conn.execute("SELECT rating FROM ticket_ratings WHERE ticket_id = ?", (ticket_id,)).fetchone()
    return row[0] if row else None


def rate(conn, ticket, rating: int, *, via: str = "status_page", now: float | None = None) -> None:
    """Store a rating for a served `centre.queue.Ticket`."""
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise RatingError(f"a rating is a whole number from 1 to 5, not {rating!r}")
    if ticket.state != "served":
        raise RatingError(f"ticket {ticket.code} is {ticket.state}; it can be rated once served")
    now = time.time() if now is None else now
    if ticket.finished_at is not None and now - ticket.finished_at.timestamp() > MAX_AGE_H * 3600:
        raise RatingError(f"ticket {ticket.code} was served more than {MAX_AGE_H} hours ago")
    try:
        conn.execute("INSERT INTO ticket_ratings(ticket_id, rating, at, via) VALUES (?, ?, ?, ?)",
                     (ticket.id, rating, now, via))
    except sqlite3.IntegrityError:
        raise AlreadyRated(f"ticket {ticket.code} has already been rated") from None

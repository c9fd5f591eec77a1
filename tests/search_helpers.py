"""Databases for the search tests: the tiny fixture catalogue, or the shipped one (in memory)."""

from __future__ import annotations

from pathlib import Path

from centre.catalogue import ensure_catalogue
from centre.catalogue_import import import_catalogue
from centre.catalogue_schema import ensure_schema
from centre.db import connect

SEARCH_FIXTURE = Path(__file__).parent / "data" / "search_fixture"


def fixture_catalogue_db():
    """An in-memory centre database holding tests/data/search_fixture's procedures."""
    c = connect(None)
    ensure_schema(c)
    import_catalogue(c, SEARCH_FIXTURE)
    return c


def shipped_catalogue_db(cfg):
    """An in-memory centre database holding the shipped catalogue."""
    c = connect(None)
    ensure_catalogue(c, cfg)
    return c

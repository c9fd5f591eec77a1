"""The provincial hub: ward centres' events in PostgreSQL, indicators, dashboard and reports.

See docs/province.md. `province.cluster` starts a local PostgreSQL cluster, `province.db`
applies the versioned SQL migrations in `province/migrations/`, `province.ingest` stores a
centre's batch idempotently, `province.app` is the FastAPI hub.
"""

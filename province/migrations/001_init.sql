-- 001: centres and their credentials, the event log (partitioned by month), facts, daily rollup.

CREATE TABLE centres (
    centre_id     text PRIMARY KEY,
    name          text NOT NULL DEFAULT '',
    token_sha256  bytea NOT NULL UNIQUE,          -- SHA-256 of the centre's 32-byte random token
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz,
    last_seq      bigint,                          -- seq of the last event of the last batch
    events        bigint NOT NULL DEFAULT 0,       -- events stored
    duplicates    bigint NOT NULL DEFAULT 0,       -- events received again and ignored
    batches       bigint NOT NULL DEFAULT 0
);

-- Every event as the centre sent it. Idempotency key: (centre_id, uid); `at` is part of the
-- key because a partitioned table's unique keys must hold the partition key; a re-sent event
-- carries the same `at` (it is stored in the centre's outbox), so it still conflicts.
CREATE TABLE events (
    centre_id     text NOT NULL,
    uid           uuid NOT NULL,
    seq           bigint NOT NULL,                 -- the centre's outbox order
    kind          text NOT NULL,
    at            timestamptz NOT NULL,            -- the change's own time (centre clock)
    data          jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (centre_id, uid, at)
) PARTITION BY RANGE (at);
-- Months outside 2000..2099 (a centre with a broken clock) land here; monthly partitions
-- are created by the hub before a batch that needs them (province.db.ensure_partitions).
CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE TABLE tickets (
    centre_id        text NOT NULL,
    token            text NOT NULL,
    day              date NOT NULL,
    service          text NOT NULL,
    state            text NOT NULL,
    priority         text,
    procedure_key    text,
    counter_id       integer,
    issued_at        double precision NOT NULL,
    first_called_at  double precision,
    serving_at       double precision,
    finished_at      double precision,
    recalls          integer NOT NULL DEFAULT 0,
    transfers        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (centre_id, token)
);
CREATE INDEX tickets_centre_day ON tickets (centre_id, day);

CREATE TABLE ratings (
    centre_id  text NOT NULL,
    token      text NOT NULL,
    day        date NOT NULL,
    rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    at         double precision NOT NULL,
    PRIMARY KEY (centre_id, token)
);
CREATE INDEX ratings_centre_day ON ratings (centre_id, day);

CREATE TABLE dossiers (
    centre_id       text NOT NULL,
    code            text NOT NULL,
    procedure_code  text NOT NULL DEFAULT '',
    received_on     date NOT NULL,
    due_on          date,
    state           text NOT NULL,
    channel         text NOT NULL DEFAULT '',
    digitised       boolean,
    finished_on     date,                          -- first day it reached ready/returned/rejected
    updated_at      text NOT NULL,
    PRIMARY KEY (centre_id, code)
);
CREATE INDEX dossiers_received ON dossiers (centre_id, received_on);
CREATE INDEX dossiers_finished ON dossiers (centre_id, finished_on);

-- Additive counts per ward and day (centre.indicators.Stats as JSON), rebuilt for the days a
-- batch touches; dashboards add days up to months and quarters.
CREATE TABLE daily (
    centre_id  text NOT NULL,
    day        date NOT NULL,
    stats      jsonb NOT NULL,
    PRIMARY KEY (centre_id, day)
);
CREATE INDEX daily_day ON daily (day);

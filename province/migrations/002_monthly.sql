-- 002: counts per ward and month (the sums of its `daily` rows), kept up to date by the ingest,
-- so month and quarter pages add 100–300 rows instead of 3,000–9,000. Filled from `daily` by
-- province.rollup.rebuild_monthly right after this migration (province.db.POST_MIGRATION).
CREATE TABLE monthly (
    centre_id  text NOT NULL,
    month      date NOT NULL,          -- first day of the month
    stats      jsonb NOT NULL,
    PRIMARY KEY (centre_id, month)
);
CREATE INDEX monthly_month ON monthly (month);

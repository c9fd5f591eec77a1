-- 003: province office users (dashboard, drill-down, reports), their wards, sessions and login attempts.
-- Passwords are hashed by centre.users.hash_password (salted scrypt, parameters in the hash).

CREATE TABLE hub_users (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    full_name      text NOT NULL DEFAULT '',
    role           text NOT NULL CHECK (role IN ('province', 'ward')),
    password_hash  text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The wards a `ward` user may see (a `province` user has none: it sees all).
CREATE TABLE hub_user_centres (
    user_id    bigint NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE,
    centre_id  text NOT NULL REFERENCES centres(centre_id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, centre_id)
);

-- Browser sessions: the cookie is a random token; only its SHA-256 is stored.
CREATE TABLE hub_sessions (
    token_sha256  bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE,
    csrf          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    address       text NOT NULL DEFAULT ''
);
CREATE INDEX hub_sessions_user ON hub_sessions (user_id);

-- Every login attempt (rate limiting per address + name and per address; audit).
CREATE TABLE hub_login_attempts (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    name     text NOT NULL,
    address  text NOT NULL,
    ok       boolean NOT NULL
);
CREATE INDEX hub_login_attempts_name ON hub_login_attempts (name, address, at);
CREATE INDEX hub_login_attempts_address ON hub_login_attempts (address, at);

-- Web console sessions (docs/console.md). The browser holds a random token in a cookie; only its
-- SHA-256 is stored. A session ends after a period of inactivity (last_seen_at), on sign-out, or
-- with its client (composite foreign key, ON DELETE CASCADE).
--
-- Tenant rule: an application owner's session belongs to one application, so its key starts
-- with app_id like every other table (the cookie names the application, so a lookup never scans
-- across tenants). The platform operator is not a tenant: its sessions live in their own table,
-- keyed by the token hash alone, instead of under a sentinel app_id that no foreign key could
-- check.

CREATE TABLE console_sessions (
    app_id       text        NOT NULL,
    token_hash   bytea       NOT NULL,
    client_id    text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT console_sessions_pkey PRIMARY KEY (app_id, token_hash),
    CONSTRAINT console_sessions_client_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES clients (app_id, client_id) ON DELETE CASCADE,
    CONSTRAINT console_sessions_token_hash_check CHECK (length(token_hash) = 32)
);

-- operator_fingerprint: derived from the operator token in force at sign-in (never the token), so
-- replacing or removing LATCHKEY_OPERATOR_TOKEN ends the operator's open sessions.
CREATE TABLE console_operator_sessions (
    token_hash           bytea       NOT NULL,
    operator_fingerprint bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT console_operator_sessions_pkey PRIMARY KEY (token_hash),
    CONSTRAINT console_operator_sessions_token_hash_check CHECK (length(token_hash) = 32)
);

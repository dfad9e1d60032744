-- Latchkey foundation schema.
-- Every table carries app_id and every key / unique constraint starts with it, so the schema can
-- be distributed by app_id (Citus) later. Foreign keys are composite (app_id, …) so no row can
-- point into another tenant.

CREATE TABLE apps (
    app_id     text        NOT NULL,
    name       text        NOT NULL,
    region     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT apps_pkey PRIMARY KEY (app_id),
    CONSTRAINT apps_name_key UNIQUE (name),
    CONSTRAINT apps_region_check CHECK (region IN ('us', 'eu', 'au', 'sa', 'cn', 'sg'))
);

CREATE TABLE clients (
    app_id       text        NOT NULL,
    client_id    text        NOT NULL,
    name         text        NOT NULL,
    features     text[]      NOT NULL DEFAULT '{}',
    ip_whitelist cidr[]      NOT NULL DEFAULT '{0.0.0.0/0}',
    version      bigint      NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clients_pkey PRIMARY KEY (app_id, client_id),
    CONSTRAINT clients_app_name_key UNIQUE (app_id, name),
    CONSTRAINT clients_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE
);
-- The Registration API only receives a client id and must find its application. Client ids are
-- 32 characters from a CSPRNG (165 bits), so this index is deliberately not UNIQUE (a unique key
-- not starting with app_id could not be distributed); a lookup that finds two rows is refused.
CREATE INDEX clients_client_id_idx ON clients (client_id);

CREATE TABLE client_secrets (
    app_id       text        NOT NULL,
    client_id    text        NOT NULL,
    secret_id    uuid        NOT NULL,
    phc          text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NULL,
    last_used_at timestamptz NULL,
    CONSTRAINT client_secrets_pkey PRIMARY KEY (app_id, client_id, secret_id),
    CONSTRAINT client_secrets_client_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES clients (app_id, client_id) ON DELETE CASCADE,
    CONSTRAINT client_secrets_phc_check CHECK (phc LIKE '$argon2id$%')
);

-- Head of each application's audit hash chain. Appending an event locks this row, which
-- serialises audit writes per application (not globally) and hands out gap-free seq numbers.
CREATE TABLE audit_heads (
    app_id text   NOT NULL,
    seq    bigint NOT NULL,
    hash   bytea  NOT NULL,
    CONSTRAINT audit_heads_pkey PRIMARY KEY (app_id)
);

CREATE TABLE audit_events (
    app_id           text        NOT NULL,
    seq              bigint      NOT NULL,
    event_id         uuid        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor            text        NOT NULL,
    actor_ip         inet        NULL,
    request_id       text        NOT NULL,
    action           text        NOT NULL,
    target_client_id text        NULL,
    features_before  text[]      NULL,
    features_after   text[]      NULL,
    changes          jsonb       NOT NULL DEFAULT '{}',
    prev_hash        bytea       NOT NULL,
    hash             bytea       NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (app_id, seq),
    CONSTRAINT audit_events_event_id_key UNIQUE (app_id, event_id)
);
CREATE INDEX audit_events_target_idx ON audit_events (app_id, target_client_id, seq);
CREATE INDEX audit_events_time_idx ON audit_events (app_id, occurred_at);

-- Append-only: the log is the record of truth, so nothing may rewrite or remove an event.
CREATE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();

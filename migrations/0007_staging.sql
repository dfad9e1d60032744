-- Staging toolkit (issue #13): named snapshots of an application's whole state, so a test suite
-- can put a replica back into a known state between runs.
--
-- A snapshot holds every row of the application's tables as JSON of the whole row
-- (`to_jsonb(row)`), one array per table, and a restore puts them back with
-- `jsonb_populate_recordset(NULL::<table>, …)`. Rows are copied column for column without naming
-- the columns, so a column another migration adds to one of these tables (e.g. a sealed secret
-- next to the hash in client_secrets) is saved and restored with no change here.

CREATE TABLE app_snapshots (
    app_id     text        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- {"clients": [row, …], "client_secrets": [...], "client_settings": [...],
    --  "app_settings": [...], "entity_types": [...], "access_schemas": [...]}
    state      jsonb       NOT NULL,
    CONSTRAINT app_snapshots_pkey PRIMARY KEY (app_id, name),
    CONSTRAINT app_snapshots_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT app_snapshots_name_check CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    CONSTRAINT app_snapshots_state_check CHECK (jsonb_typeof(state) = 'object')
);

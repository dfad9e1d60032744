-- Settings: string key -> JSON value, at two scopes (spec §1): application defaults and
-- per-client values (a client value overrides the default for that key).
--
-- DESIGN.md sketches one table `settings(app_id, client_id NULL, key, value)`. A primary key
-- cannot contain a nullable column, and a unique key over a NULL client_id would not stop two
-- defaults with the same key (NULLs are distinct). Two tables keep plain primary keys that start
-- with app_id, and give client values a real composite foreign key that cascades when the client
-- is deleted.
--
-- The CHECKs repeat the domain rules (src/domain/settings.rs) as a last line of defence; the
-- service refuses bad keys and values with a clear message before any of these could fire.
-- (jsonb's text form adds blanks after `:` and `,`, so its value bound is looser than the
-- 64 KiB of compact JSON the domain enforces.)

CREATE TABLE app_settings (
    app_id     text        NOT NULL,
    key        text        NOT NULL,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT app_settings_pkey PRIMARY KEY (app_id, key),
    CONSTRAINT app_settings_app_fkey FOREIGN KEY (app_id)
        REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT app_settings_key_check CHECK (octet_length(key) BETWEEN 1 AND 255),
    CONSTRAINT app_settings_value_check CHECK (octet_length(value::text) <= 262144)
);

CREATE TABLE client_settings (
    app_id     text        NOT NULL,
    client_id  text        NOT NULL,
    key        text        NOT NULL,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_settings_pkey PRIMARY KEY (app_id, client_id, key),
    CONSTRAINT client_settings_client_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES clients (app_id, client_id) ON DELETE CASCADE,
    CONSTRAINT client_settings_key_check CHECK (octet_length(key) BETWEEN 1 AND 255),
    CONSTRAINT client_settings_value_check CHECK (octet_length(value::text) <= 262144)
);

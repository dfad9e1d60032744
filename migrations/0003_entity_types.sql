-- Entity types (attribute schemas of an application's records) and client access schemas.
-- Keys start with app_id like every other table; foreign keys are composite so no row can point
-- into another tenant.

CREATE TABLE entity_types (
    app_id     text        NOT NULL,
    name       text        NOT NULL,
    -- The owner's attribute definitions (the reserved id/uuid/created/lastUpdated are never
    -- stored: every type has them). Validated by the service before it is written.
    attr_defs  jsonb       NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT entity_types_pkey PRIMARY KEY (app_id, name),
    CONSTRAINT entity_types_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT entity_types_attr_defs_check CHECK (jsonb_typeof(attr_defs) = 'array')
);

CREATE TABLE access_schemas (
    app_id      text        NOT NULL,
    client_id   text        NOT NULL,
    type_name   text        NOT NULL,
    access_type text        NOT NULL,
    -- Canonical attribute paths (`primaryAddress.city`), the reserved four first.
    attributes  text[]      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT access_schemas_pkey PRIMARY KEY (app_id, client_id, type_name, access_type),
    CONSTRAINT access_schemas_access_type_check CHECK (access_type IN ('read', 'write')),
    -- A deleted client takes its schemas with it (the client.delete event records the deletion).
    CONSTRAINT access_schemas_client_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES clients (app_id, client_id) ON DELETE CASCADE,
    -- An entity type that a schema names cannot be deleted: the service refuses first, naming
    -- the clients; this is the backstop. NO ACTION (checked at the end of the statement), not
    -- RESTRICT, so deleting a whole application can cascade through clients and types at once.
    CONSTRAINT access_schemas_type_fkey FOREIGN KEY (app_id, type_name)
        REFERENCES entity_types (app_id, name) ON DELETE NO ACTION
);
-- "Which clients' schemas use this type?" (attribute removal, type deletion).
CREATE INDEX access_schemas_type_idx ON access_schemas (app_id, type_name);

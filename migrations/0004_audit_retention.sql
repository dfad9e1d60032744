-- Audit reporting: per-application retention, pruning behind a checkpoint, and the indexes the
-- audit query API needs to answer a filtered page quickly over millions of events.

-- Retention period of an application's audit events. No row: keep every event forever (the
-- default). Only `latchkey audit prune` removes expired events, and only after it has appended a
-- checkpoint event to the chain.
CREATE TABLE audit_retention (
    app_id     text        NOT NULL,
    keep_days  integer     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_retention_pkey PRIMARY KEY (app_id),
    CONSTRAINT audit_retention_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT audit_retention_keep_days_check CHECK (keep_days BETWEEN 1 AND 36500)
);

-- The time of the newest event of each chain. Appending keeps occurred_at non-decreasing along
-- seq, so a time range is also a seq range (the query API turns since/until into seq bounds).
ALTER TABLE audit_heads ADD COLUMN occurred_at timestamptz NULL;
UPDATE audit_heads h
   SET occurred_at = (SELECT max(e.occurred_at) FROM audit_events e WHERE e.app_id = h.app_id);

-- since/until → seq bounds: the first (or last) seq at a given time, ties broken by seq.
DROP INDEX audit_events_time_idx;
CREATE INDEX audit_events_time_idx ON audit_events (app_id, occurred_at, seq);
-- Filters walked in seq order: `actor=` and `action=` (target_client_id has its index already).
CREATE INDEX audit_events_actor_idx ON audit_events (app_id, actor, seq);
CREATE INDEX audit_events_action_idx ON audit_events (app_id, action, seq);

-- `feature=F`: events that added or removed F, i.e. F is in the symmetric difference of
-- features_before and features_after. Stored once per event (a generated column), because
-- computing it per row while walking the log costs tens of microseconds a row; keys are
-- "<app_id> <feature>" so a lookup in the GIN index stays inside one application.
CREATE FUNCTION audit_feature_keys(p_app_id text, p_before text[], p_after text[])
RETURNS text[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    f text;
    keys text[] := '{}';
BEGIN
    FOREACH f IN ARRAY coalesce(p_after, '{}') LOOP
        IF f <> ALL (coalesce(p_before, '{}')) THEN
            keys := keys || (p_app_id || ' ' || f);
        END IF;
    END LOOP;
    FOREACH f IN ARRAY coalesce(p_before, '{}') LOOP
        IF f <> ALL (coalesce(p_after, '{}')) THEN
            keys := keys || (p_app_id || ' ' || f);
        END IF;
    END LOOP;
    RETURN keys;
END;
$$;
ALTER TABLE audit_events ADD COLUMN feature_keys text[]
    GENERATED ALWAYS AS (audit_feature_keys(app_id, features_before, features_after)) STORED;
-- fastupdate off: each insert goes straight into the index (one per change, cheap), instead of a
-- pending list that every feature query would have to scan until the next vacuum.
CREATE INDEX audit_events_feature_idx ON audit_events USING gin (feature_keys)
    WITH (fastupdate = off);

-- Append-only, with one controlled exception: `latchkey audit prune` deletes the expired prefix
-- of one chain after appending a checkpoint event that records the hash of that prefix. It
-- announces the exact range in the transaction-local setting `latchkey.audit_prune`
-- ("<app_id>:<last pruned seq>"), and the trigger lets through only DELETEs inside that range.
-- UPDATE and TRUNCATE stay refused in every case. This stops accidents and careless scripts; it
-- is not a privilege boundary (whoever can run SQL can set the variable, and a superuser can
-- disable triggers). Tampering is made detectable by the hash chain, not by this trigger.
CREATE OR REPLACE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    allowed text := current_setting('latchkey.audit_prune', true);
BEGIN
    IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' AND coalesce(allowed, '') <> ''
       AND OLD.app_id = split_part(allowed, ':', 1)
       AND OLD.seq <= split_part(allowed, ':', 2)::bigint THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

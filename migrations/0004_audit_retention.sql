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

-- `feature=F`: events that added or removed F (F is in features_before xor features_after). One
-- row per (event, changed feature), written by a trigger when the event is inserted. A btree in
-- (app_id, feature, seq) order serves rare and frequent features alike: walked in seq order it
-- yields a page of a frequent feature at once, and a rare one is a handful of rows. (A GIN index
-- over arrays cannot be walked in seq order, and the planner, misjudging rarity, would walk the
-- whole log instead.) Rows go with their event: pruning cascades here.
CREATE TABLE audit_feature_changes (
    app_id  text   NOT NULL,
    feature text   NOT NULL,
    seq     bigint NOT NULL,
    CONSTRAINT audit_feature_changes_pkey PRIMARY KEY (app_id, feature, seq),
    CONSTRAINT audit_feature_changes_event_fkey FOREIGN KEY (app_id, seq)
        REFERENCES audit_events (app_id, seq) ON DELETE CASCADE
);

CREATE FUNCTION audit_events_index_features() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    f text;
BEGIN
    IF NEW.features_before IS NOT DISTINCT FROM NEW.features_after THEN
        RETURN NULL;
    END IF;
    FOREACH f IN ARRAY coalesce(NEW.features_after, '{}') LOOP
        IF f <> ALL (coalesce(NEW.features_before, '{}')) THEN
            INSERT INTO audit_feature_changes (app_id, feature, seq) VALUES (NEW.app_id, f, NEW.seq)
                ON CONFLICT DO NOTHING;
        END IF;
    END LOOP;
    FOREACH f IN ARRAY coalesce(NEW.features_before, '{}') LOOP
        IF f <> ALL (coalesce(NEW.features_after, '{}')) THEN
            INSERT INTO audit_feature_changes (app_id, feature, seq) VALUES (NEW.app_id, f, NEW.seq)
                ON CONFLICT DO NOTHING;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_feature_changes
    AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_index_features();

-- The events already written.
INSERT INTO audit_feature_changes (app_id, feature, seq)
SELECT e.app_id, d.f, e.seq
FROM audit_events e,
     LATERAL (
        (SELECT unnest(coalesce(e.features_after, '{}')) EXCEPT SELECT unnest(coalesce(e.features_before, '{}')))
        UNION
        (SELECT unnest(coalesce(e.features_before, '{}')) EXCEPT SELECT unnest(coalesce(e.features_after, '{}')))
     ) AS d(f);

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
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- The feature index of the log is as append-only as the log (a deleted row would hide its event
-- from `feature=` queries); pruning's cascade passes the same way.
CREATE TRIGGER audit_feature_changes_append_only
    BEFORE UPDATE OR DELETE ON audit_feature_changes
    FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();

CREATE TRIGGER audit_feature_changes_no_truncate
    BEFORE TRUNCATE ON audit_feature_changes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();

-- Entitlements at any moment (issue #20, docs/audit.md "Access reviews"): materialised states
-- of an application's entitlements (its clients with their features, IP allow lists and access
-- schemas), each the fold of the audit log up to one event. An answer for a moment loads the
-- latest state at or before it and folds the few events after it (domain::entitlements).
--
-- * `periodic`: written every 10,000 events (domain::entitlements::STATE_EVERY) by the
--   background task, so any moment folds at most about that many events;
-- * `prune`: written by `latchkey audit prune` for the last pruned event, in the prune's
--   transaction, so the moments the remaining log covers still have a starting point (states
--   before it are removed with the events: the service answers only for retained history);
-- * `migration`: below, for applications pruned before this table existed (their log no
--   longer starts at the first event): the state now, read from the tables.
--
-- `state` is the serde form of domain::entitlements::EntitlementState in encoding `format`
-- (1: {"clients": {"<id>": {"name", "features", "ipWhitelist", "accessSchemas":
-- {"<type>": {"read"?: [...], "write"?: [...]}}}}}). Derived data, not evidence: no triggers.
CREATE TABLE audit_entitlement_states (
    app_id      text        NOT NULL,
    seq         bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    format      smallint    NOT NULL,
    reason      text        NOT NULL,
    clients     integer     NOT NULL,
    state       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_entitlement_states_pkey PRIMARY KEY (app_id, seq),
    CONSTRAINT audit_entitlement_states_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT audit_entitlement_states_seq_check CHECK (seq >= 0),
    CONSTRAINT audit_entitlement_states_format_check CHECK (format >= 1),
    CONSTRAINT audit_entitlement_states_reason_check CHECK (reason IN ('periodic', 'prune', 'migration'))
);
CREATE INDEX audit_entitlement_states_time_idx ON audit_entitlement_states (app_id, occurred_at, seq);

INSERT INTO audit_entitlement_states (app_id, seq, occurred_at, format, reason, clients, state)
SELECT h.app_id, h.seq, coalesce(h.occurred_at, now()), 1, 'migration',
       (SELECT count(*) FROM clients c WHERE c.app_id = h.app_id),
       jsonb_build_object('clients', coalesce((
           SELECT jsonb_object_agg(c.client_id, jsonb_build_object(
                      'name', c.name,
                      'features', to_jsonb(ARRAY(SELECT f FROM unnest(c.features) f ORDER BY f)),
                      'ipWhitelist', to_jsonb(ARRAY(
                          SELECT n::text FROM unnest(c.ip_whitelist) WITH ORDINALITY u(n, i) ORDER BY i)),
                      'accessSchemas', coalesce((
                          SELECT jsonb_object_agg(t.type_name, t.lists)
                            FROM (SELECT s.type_name,
                                         jsonb_object_agg(s.access_type, to_jsonb(s.attributes)) AS lists
                                    FROM access_schemas s
                                   WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                                   GROUP BY s.type_name) t), '{}'::jsonb)))
             FROM clients c WHERE c.app_id = h.app_id), '{}'::jsonb))
  FROM audit_heads h
 WHERE h.seq > 0
   AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.app_id = h.app_id AND e.seq = 1);

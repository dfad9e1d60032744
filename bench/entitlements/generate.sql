-- Entitlements benchmark data (bench/entitlements/run.sh): appends :events audit events about
-- :clients clients to the chain of application :'app', spread evenly over the year before now.
-- Pure SQL (generate_series), so a million events load in a minute or two. The events have the
-- payloads the service writes (domain/audit_changes.rs), but not a real hash chain (prev_hash
-- and hash are filler): the entitlement reconstruction never reads them, and the chain's own
-- benchmark is bench/audit. Triggers (append-only guard, feature index, Merkle tree) are off
-- for the load (a superuser's session_replication_role), like the million-client load of
-- bench/run; the Merkle tree of this application is therefore incomplete, which nothing here
-- reads.
--
-- The mix after the :clients creations: 45 % feature changes (client.update with
-- features_before/after), 15 % allow-list changes, 20 % access schema changes (read or write of
-- the `user` type), 10 % secret rotations, 10 % settings changes (not entitlements: folded past).
\set ON_ERROR_STOP on
SET session_replication_role = replica;

CREATE TEMP TABLE bench_params AS
SELECT (SELECT seq FROM audit_heads WHERE app_id = :'app') AS head,
       now() - interval '365 days' AS t0,
       interval '365 days' / (:events)::int AS step;

-- The application's own first events (its creation) move to before the generated year: times
-- never decrease along the chain (store::audit::append), and the reconstruction relies on it.
UPDATE audit_events e SET occurred_at = p.t0 - interval '1 day' + e.seq * interval '1 second'
  FROM bench_params p WHERE e.app_id = :'app';

INSERT INTO audit_events (app_id, seq, event_id, occurred_at, actor, actor_ip, request_id, action,
                          target_client_id, features_before, features_after, changes, prev_hash, hash)
SELECT :'app', p.head + g.i, gen_random_uuid(), p.t0 + p.step * g.i,
       CASE WHEN g.i % 10 = 0 THEN 'operator' ELSE 'bench-owner' END,
       ('10.0.' || (g.i % 250) || '.' || (g.i % 200 + 1))::inet,
       'bench-' || g.i,
       e.action, 'client-' || lpad(e.client::text, 6, '0'), e.fb, e.fa, e.changes,
       sha256(('p' || g.i)::bytea), sha256(('h' || g.i)::bytea)
  FROM bench_params p,
       generate_series(1, :events) AS g(i),
       LATERAL (
         SELECT CASE WHEN g.i <= :clients THEN g.i ELSE 1 + (hashint4(g.i) & 2147483647) % :clients END AS client,
                CASE WHEN g.i <= :clients THEN 0 ELSE (hashint4(g.i * 7) & 2147483647) % 100 END AS roll
       ) r,
       LATERAL (
         SELECT r.client,
                CASE WHEN g.i <= :clients THEN 'client.create'
                     WHEN r.roll < 60 THEN 'client.update'
                     WHEN r.roll < 80 THEN 'access_schema.set'
                     WHEN r.roll < 90 THEN 'client.secret_rotate'
                     ELSE 'settings.set' END AS action,
                CASE WHEN g.i <= :clients THEN '{}'::text[]
                     WHEN r.roll < 60 THEN ARRAY['direct_read_access']
                     WHEN r.roll < 90 THEN ARRAY['direct_read_access'] END AS fb,
                CASE WHEN g.i <= :clients THEN ARRAY['direct_read_access']
                     WHEN r.roll < 45 THEN CASE g.i % 3 WHEN 0 THEN ARRAY['direct_read_access']
                                                        WHEN 1 THEN ARRAY['access_issuer', 'direct_read_access']
                                                        ELSE ARRAY['direct_access'] END
                     WHEN r.roll < 60 THEN ARRAY['direct_read_access']
                     WHEN r.roll < 90 THEN ARRAY['direct_read_access'] END AS fa,
                CASE WHEN g.i <= :clients THEN
                          jsonb_build_object('name', jsonb_build_object('from', null, 'to', 'client ' || r.client),
                                             'ipWhitelist', jsonb_build_object('from', null, 'to', jsonb_build_array('0.0.0.0/0')))
                     WHEN r.roll < 45 THEN '{}'::jsonb
                     WHEN r.roll < 60 THEN
                          jsonb_build_object('ipWhitelist', jsonb_build_object('from', jsonb_build_array('0.0.0.0/0'),
                                             'to', jsonb_build_array('10.' || (g.i % 250) || '.0.0/16', '192.168.0.0/24')))
                     WHEN r.roll < 80 THEN
                          jsonb_build_object('entityType', 'user', 'accessType', CASE WHEN g.i % 2 = 0 THEN 'read' ELSE 'write' END,
                                             'attributes', jsonb_build_object('from', null, 'to',
                                                 jsonb_build_array('id', 'uuid', 'created', 'lastUpdated', 'email', 'givenName',
                                                                   'familyName', 'primaryAddress.city', 'attr' || (g.i % 50))))
                     WHEN r.roll < 90 THEN '{"secret": {"rotated": true, "oldSecretHoursToLive": 0}}'::jsonb
                     ELSE jsonb_build_object('k' || (g.i % 20), jsonb_build_object('to', g.i)) END AS changes
       ) e;

UPDATE audit_heads h
   SET seq = p.head + :events, occurred_at = p.t0 + p.step * :events
  FROM bench_params p
 WHERE h.app_id = :'app';

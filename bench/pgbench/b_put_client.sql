-- Ceiling of scenario (b): PUT /config/{app}/clients/{id} changing the features.
-- It runs on an application of its own ("bench-pgbench", whose clients bench/run inserts with
-- the ids md5('pgbench-put-' || i)), so that its audit chain, whose hashes are not computed
-- here, never mixes with the chain the server writes.
-- pgbench connection n (:client_id, 0-based) always changes client n + 1: like the server's
-- side, where no two PUTs of one client are ever in flight together (bench/lua/put_toggle.lua),
-- no transaction waits for another's client row, only for the audit-chain head.
-- Variables (pgbench -D): app, owner, hash (32 bytes in hex: the server computes a SHA-256).
-- Differences from the server's statements, none of them costing the ceiling anything that
-- matters: the target id is md5(…) of the connection number instead of a bound string;
-- event_id is gen_random_uuid() and occurred_at now() (the server binds both); the features
-- written are the same every time (an UPDATE writes a new row version either way).
-- The same statements otherwise, the notification included (see the head update below).
\set n :client_id + 1

-- Authentication: store::clients::get_with_secrets (warm cache).
SELECT c.app_id, c.client_id, c.name, c.features, c.ip_whitelist, c.version,
       c.created_at, c.updated_at,
       COALESCE(ARRAY(SELECT s.phc FROM client_secrets s
                      WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                        AND (s.expires_at IS NULL OR s.expires_at > now())
                      ORDER BY s.created_at DESC), '{}') AS phcs
FROM clients c WHERE c.app_id = :app AND c.client_id = :owner;

-- service::update_client: one transaction.
BEGIN;
-- store::clients::lock
SELECT app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at
FROM clients WHERE app_id = :app AND client_id = md5('pgbench-put-' || :n::int) FOR UPDATE;
-- store::clients::update
UPDATE clients SET name = 'put-' || :n::int, features = '{direct_access}', ip_whitelist = '{0.0.0.0/0}',
       version = version + 1, updated_at = now()
WHERE app_id = :app AND client_id = md5('pgbench-put-' || :n::int)
RETURNING app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at;
-- store::audit::append: lock the chain head, insert the event, move the head.
SELECT seq, hash, occurred_at FROM audit_heads WHERE app_id = :app FOR UPDATE
\gset head_
\set next_seq :head_seq + 1
-- store::audit::append: the event inserted, the head moved and the change announced in one
-- statement (delivered at commit; the server's listener hears these too). Until 3 December
-- 2026 this ceiling left the notification out, though every write of the server sends one:
-- PostgreSQL queues the payload for the listeners at commit, inside the chain head's critical
-- section.
WITH event AS (
    INSERT INTO audit_events (app_id, seq, event_id, occurred_at, actor, actor_ip,
         request_id, action, target_client_id, features_before, features_after, changes,
         prev_hash, hash)
    VALUES (:app, :next_seq, gen_random_uuid(), now(), :owner, '127.0.0.1'::inet, 'pgbenchpgbench01',
            'client.update', md5('pgbench-put-' || :n::int), '{direct_read_access}', '{direct_access}', '{}',
            :head_hash, :hash)
    RETURNING app_id, seq),
head AS (
    UPDATE audit_heads SET seq = :next_seq, hash = :hash, occurred_at = now() WHERE app_id = :app
    RETURNING app_id, seq)
SELECT pg_notify('latchkey_changes', head.seq::text || ' ' || head.app_id)
  FROM head JOIN event USING (app_id, seq);
COMMIT;

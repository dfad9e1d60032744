-- Ceiling of scenario (b): PUT /config/{app}/clients/{id} changing the features.
-- It runs on an application of its own ("bench-pgbench", whose clients bench/run inserts with
-- the ids md5('pgbench-put-' || i)), so that its audit chain, whose hashes are not computed
-- here, never mixes with the chain the server writes.
-- pgbench connection n (:client_id, 0-based) always changes client n + 1: like the server's
-- side, where no two PUTs of one client are ever in flight together (bench/lua/put_toggle.lua),
-- no transaction waits for another's client row, only for the audit-chain head.
-- Variables (pgbench -D): app, owner (hash: no longer used; PostgreSQL hashes, as for the server).
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

-- service::update_client: one transaction. The server begins every write transaction with
-- store::tx::WRITE_BEGIN, "BEGIN; SET LOCAL enable_seqscan = off", in one round trip; pgbench
-- cannot send two commands as one prepared statement, so here they are two (the second costs
-- pgbench one more round trip, before any lock is taken). Without it, the plans pgbench caches
-- keep whatever the table sizes were when its connections started (see WRITE_BEGIN's comment).
BEGIN;
SET LOCAL enable_seqscan = off;
-- store::clients::lock
SELECT app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at
FROM clients WHERE app_id = :app AND client_id = md5('pgbench-put-' || :n::int) FOR UPDATE;
-- store::clients::update
UPDATE clients SET name = 'put-' || :n::int, features = '{direct_access}', ip_whitelist = '{0.0.0.0/0}',
       version = version + 1, updated_at = now()
WHERE app_id = :app AND client_id = md5('pgbench-put-' || :n::int)
RETURNING app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at;
-- store::audit::append: one statement locks the chain head, hashes the event onto it, inserts
-- the event, moves the head and announces the change (delivered at commit; the server's
-- listener hears these too). The canonical parts are those of a real client.update event with
-- fixed ids (the server's differ per event, not in length). Until 3 December 2026 (second
-- session) this was a read of the head, the hash computed by the client and a second
-- statement, as the server did then; before that the ceiling also left the notification out.
WITH old AS (
    SELECT seq, hash, occurred_at FROM audit_heads WHERE app_id = :app::text FOR UPDATE),
next AS (
    SELECT old.seq + 1 AS seq, old.hash AS prev_hash,
           greatest(now(), old.occurred_at) AS occurred_at
    FROM old),
chained AS (
    SELECT next.seq, next.prev_hash, next.occurred_at,
           sha256(next.prev_hash || convert_to(
               '{"action":"client.update","actor":"' || :owner::text || '","actor_ip":"127.0.0.1","app_id":"' || :app::text
               || '","changes":{"features":{"from":["direct_read_access"],"to":["direct_access"]}},"event_id":"00000000-0000-4000-8000-000000000000","features_after":["direct_access"],"features_before":["direct_read_access"],"occurred_at":"'
               -- The server's format, with its two colons apart (pgbench takes a colon
               -- followed by a name for a variable, also in a string).
               || to_char(next.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24' || ':' || 'MI' || ':' || 'SS.US"Z"')
               || '","request_id":"pgbenchpgbench01","seq":' || next.seq::text
               || ',"target_client_id":"' || md5('pgbench-put-' || :n::int) || '"}', 'UTF8')) AS hash
    FROM next),
event AS (
    INSERT INTO audit_events (app_id, seq, event_id, occurred_at, actor, actor_ip,
         request_id, action, target_client_id, features_before, features_after, changes,
         prev_hash, hash)
    SELECT :app::text, c.seq, gen_random_uuid(), c.occurred_at, :owner::text, '127.0.0.1'::inet, 'pgbenchpgbench01',
           'client.update', md5('pgbench-put-' || :n::int), '{direct_read_access}', '{direct_access}', '{}',
           c.prev_hash, c.hash
    FROM chained c
    RETURNING app_id, seq, occurred_at, prev_hash, hash),
head AS (
    UPDATE audit_heads h SET seq = c.seq, hash = c.hash, occurred_at = c.occurred_at
    FROM chained c WHERE h.app_id = :app::text
    RETURNING h.app_id, h.seq)
SELECT e.seq, e.occurred_at, e.prev_hash, e.hash
FROM head JOIN event e USING (app_id, seq)
CROSS JOIN LATERAL (SELECT pg_notify('latchkey_changes', head.seq::text || ' ' || head.app_id)) n;
COMMIT;

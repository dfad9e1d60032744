-- Ceiling of scenario (a): GET /config/{app}/clients/{id} by an owner, warm credential cache.
-- The statements the server runs for that request, in order, with the same parameters
-- (pgbench -M prepared sends :name as a bound parameter, as sqlx does). No transaction: the
-- server runs them on the pool, one autocommit statement each.
-- Variables (pgbench -D): app, owner (the caller's client id), target.

-- Authentication: store::clients::get_with_secrets (src/store/clients.rs). The secret is then
-- proven from the cache (no Argon2, no write).
SELECT c.app_id, c.client_id, c.name, c.features, c.ip_whitelist, c.version,
       c.created_at, c.updated_at,
       COALESCE(ARRAY(SELECT s.phc FROM client_secrets s
                      WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                        AND (s.expires_at IS NULL OR s.expires_at > now())
                      ORDER BY s.created_at DESC), '{}') AS phcs
FROM clients c WHERE c.app_id = :app AND c.client_id = :owner;

-- The handler: store::clients::get.
SELECT app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at
FROM clients WHERE app_id = :app AND client_id = :target;

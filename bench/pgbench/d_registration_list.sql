-- Ceiling of scenario (d): POST /clients/list (Registration API, Basic auth, no filter).
-- Variables (pgbench -D): app, owner.

-- Authentication, Registration API: find the caller's application from its client id
-- (store::clients::apps_of_client), then store::clients::get_with_secrets (warm cache).
SELECT app_id FROM clients WHERE client_id = :owner LIMIT 2;
SELECT c.app_id, c.client_id, c.name, c.features, c.ip_whitelist, c.version,
       c.created_at, c.updated_at,
       COALESCE(ARRAY(SELECT s.phc FROM client_secrets s
                      WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                        AND (s.expires_at IS NULL OR s.expires_at > now())
                      ORDER BY s.created_at DESC), '{}') AS phcs
FROM clients c WHERE c.app_id = :app AND c.client_id = :owner;

-- service::list_clients: store::clients::list with no feature filter. The server binds NULL
-- to $2; pgbench cannot bind a NULL, so it is written in (PostgreSQL plans the server's
-- statement with the value too: custom plans for a parameter that is NULL fold the same way).
SELECT app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at
FROM clients
WHERE app_id = :app AND (NULL::text[] IS NULL OR features && NULL::text[])
ORDER BY created_at, client_id;

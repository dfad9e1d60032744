-- Ceiling of scenario (e): POST /config/{app}/access/check by an owner, with the integration's
-- clientSecret (proven from the cache: no Argon2, no write). Informative: no target.
-- Variables (pgbench -D): app, owner, client (the integration asked about).

-- Authentication: store::clients::get_with_secrets (warm cache).
SELECT c.app_id, c.client_id, c.name, c.features, c.ip_whitelist, c.version,
       c.created_at, c.updated_at,
       COALESCE(ARRAY(SELECT s.phc FROM client_secrets s
                      WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                        AND (s.expires_at IS NULL OR s.expires_at > now())
                      ORDER BY s.created_at DESC), '{}') AS phcs
FROM clients c WHERE c.app_id = :app AND c.client_id = :owner;

-- service::check_access: store::access_schemas::decision_inputs.
SELECT c.features, c.ip_whitelist,
       COALESCE(ARRAY(SELECT s.phc FROM client_secrets s
                      WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                        AND (s.expires_at IS NULL OR s.expires_at > now())
                      ORDER BY s.created_at DESC), '{}') AS phcs,
       (SELECT t.attr_defs FROM entity_types t
         WHERE t.app_id = c.app_id AND t.name = 'user') AS attr_defs,
       (SELECT a.attributes FROM access_schemas a
         WHERE a.app_id = c.app_id AND a.client_id = c.client_id
           AND a.type_name = 'user' AND a.access_type = 'read') AS attributes
FROM clients c WHERE c.app_id = :app AND c.client_id = :client;

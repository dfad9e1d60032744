-- Scenario (f): an application among :apps applications of :per_app clients each.
-- Run by bench/run with psql variables: apps, per_app, listed_app (made through the API: its
-- owner has a real Argon2 secret), phc (a real PHC string of a discarded secret, copied onto
-- every generated client so client_secrets has its production size too).
--
-- Ids look like the server's (26 / 32 characters of [a-z0-9]: hex digits from md5). Clients are
-- generated in creation order k = 0 … apps*per_app-1 with application k % apps, so one
-- application's clients are spread over the whole table as they would be after years of
-- interleaved creation (a listing reads ~:per_app different heap pages, not one or two).
-- Application 0 is the listed one; k = 0 is its owner, which exists already.
\set ON_ERROR_STOP on
\timing on

-- The rows are consistent by construction (every reference is computed from the same k), so
-- foreign-key checks, a million random index probes, are skipped while loading: replica mode
-- does not fire them (superuser only; the bench's scratch database).
SET session_replication_role = replica;

INSERT INTO apps (app_id, name, region, created_at)
SELECT left(md5('f-app-' || i), 26), 'bench-f-' || i, 'us',
       now() - make_interval(secs => (:apps - i) * 60)
FROM generate_series(1, :apps - 1) i;

-- Every application has its audit chain head (the genesis hash is 32 zero bytes).
INSERT INTO audit_heads (app_id, seq, hash)
SELECT left(md5('f-app-' || i), 26), 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
FROM generate_series(1, :apps - 1) i;

INSERT INTO clients (app_id, client_id, name, features, created_at, updated_at)
SELECT CASE WHEN k % :apps = 0 THEN :'listed_app' ELSE left(md5('f-app-' || (k % :apps)), 26) END,
       md5('f-client-' || k),
       'client ' || (k / :apps),
       (ARRAY['{direct_read_access}', '{direct_access}', '{login_client}',
              '{access_issuer,direct_access}'])[k % 4 + 1]::text[],
       now() - make_interval(secs => (:apps * :per_app - k)),
       now() - make_interval(secs => (:apps * :per_app - k))
FROM generate_series(1, :apps * :per_app - 1) k;

INSERT INTO client_secrets (app_id, client_id, secret_id, phc, created_at)
SELECT CASE WHEN k % :apps = 0 THEN :'listed_app' ELSE left(md5('f-app-' || (k % :apps)), 26) END,
       md5('f-client-' || k), gen_random_uuid(), :'phc',
       now() - make_interval(secs => (:apps * :per_app - k))
FROM generate_series(1, :apps * :per_app - 1) k;

RESET session_replication_role;

ANALYZE apps;
ANALYZE audit_heads;
ANALYZE clients;
ANALYZE client_secrets;
SELECT count(*) AS clients_total FROM clients;
SELECT count(*) AS listed_app_clients FROM clients WHERE app_id = :'listed_app';

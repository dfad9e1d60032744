-- OAuth 2.0 client-credentials tokens (issue #19, docs/oauth.md).
--
-- Per application: its token settings, its signing keys (private halves sealed with the server's
-- sealing key, as secrets are), the public keys owners register for clients that authenticate
-- with private_key_jwt, the revoked tokens, and the client assertions already accepted (replay
-- protection shared by every server). Every key starts with app_id.

-- The application's OAuth settings; an application without a row has the defaults. The row is
-- also what concurrent key changes of one application lock.
CREATE TABLE oauth_apps (
    app_id              text    NOT NULL,
    signing_alg         text    NOT NULL DEFAULT 'ES256',
    token_lifetime_secs integer NOT NULL DEFAULT 600,
    CONSTRAINT oauth_apps_pkey PRIMARY KEY (app_id),
    CONSTRAINT oauth_apps_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT oauth_apps_alg_check CHECK (signing_alg IN ('ES256', 'EdDSA')),
    CONSTRAINT oauth_apps_lifetime_check CHECK (token_lifetime_secs BETWEEN 60 AND 86400)
);

-- Signing keys. A key signs from `signs_from` until a newer key's `signs_from`; it is published
-- in the JWKS from its creation until `retires_at` (NULL: not retired), which a rotation sets to
-- the moment the last token it can have signed expires.
CREATE TABLE oauth_signing_keys (
    app_id         text        NOT NULL,
    kid            text        NOT NULL,
    alg            text        NOT NULL,
    public_jwk     jsonb       NOT NULL,
    sealed         bytea       NOT NULL,
    sealing_key_id text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    signs_from     timestamptz NOT NULL,
    retires_at     timestamptz NULL,
    CONSTRAINT oauth_signing_keys_pkey PRIMARY KEY (app_id, kid),
    CONSTRAINT oauth_signing_keys_app_fkey FOREIGN KEY (app_id)
        REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT oauth_signing_keys_alg_check CHECK (alg IN ('ES256', 'EdDSA'))
);

-- A client's public keys for private_key_jwt (`{"keys": [...]}`), set by an owner.
CREATE TABLE oauth_client_jwks (
    app_id     text        NOT NULL,
    client_id  text        NOT NULL,
    jwks       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_client_jwks_pkey PRIMARY KEY (app_id, client_id),
    CONSTRAINT oauth_client_jwks_client_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES clients (app_id, client_id) ON DELETE CASCADE
);

-- Revoked access tokens, by `jti`, kept until the token would have expired anyway.
CREATE TABLE oauth_revoked_tokens (
    app_id     text        NOT NULL,
    jti        text        NOT NULL,
    client_id  text        NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_revoked_tokens_pkey PRIMARY KEY (app_id, jti),
    CONSTRAINT oauth_revoked_tokens_app_fkey FOREIGN KEY (app_id)
        REFERENCES apps (app_id) ON DELETE CASCADE
);
CREATE INDEX oauth_revoked_tokens_expiry_idx ON oauth_revoked_tokens (app_id, expires_at);

-- Client assertions (private_key_jwt) already accepted, so a `jti` is never accepted twice on
-- any server. A row lives until its assertion expires. The key is a SHA-256 of (client id, jti).
CREATE TABLE oauth_assertion_replays (
    app_id     text        NOT NULL,
    jti_hash   bytea       NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT oauth_assertion_replays_pkey PRIMARY KEY (app_id, jti_hash),
    CONSTRAINT oauth_assertion_replays_app_fkey FOREIGN KEY (app_id)
        REFERENCES apps (app_id) ON DELETE CASCADE
);
CREATE INDEX oauth_assertion_replays_expiry_idx ON oauth_assertion_replays (app_id, expires_at);

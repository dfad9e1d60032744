-- Signed requests (`janrain-signed`) and sealed secrets (issue #11).
--
-- Per application, two opt-ins: `signed_requests` (the Registration API checks HMAC-SHA1
-- signatures, which needs the secret itself) and `show_secrets` (owners see `_secret` /
-- `client_secret` in reads, as the vendor shows them). Either one makes every new secret of the
-- application also stored sealed (AES-256-GCM under a server key; see src/auth/sealing.rs). The
-- Argon2id hash stays the proof for Basic and parameter authentication.

ALTER TABLE apps
    ADD COLUMN signed_requests boolean NOT NULL DEFAULT false,
    ADD COLUMN show_secrets    boolean NOT NULL DEFAULT false;

-- The sealed copy: nonce || ciphertext || tag, and the id of the key that sealed it. NULL for
-- applications without either opt-in, and for secrets minted before the opt-in (sealed on their
-- next successful use with Basic or parameters, or replaced at the next rotation).
ALTER TABLE client_secrets
    ADD COLUMN sealed         bytea NULL,
    ADD COLUMN sealing_key_id text  NULL,
    ADD CONSTRAINT client_secrets_sealed_check
        CHECK ((sealed IS NULL) = (sealing_key_id IS NULL));

-- Signatures already accepted, so a replay inside the Date window is refused on every server.
-- A row lives until the window of its Date closes (`expires_at`); expired rows are removed as
-- new ones arrive. The key is a SHA-256 of (client id, signature), never the signature itself.
CREATE TABLE signed_request_replays (
    app_id         text        NOT NULL,
    signature_hash bytea       NOT NULL,
    expires_at     timestamptz NOT NULL,
    CONSTRAINT signed_request_replays_pkey PRIMARY KEY (app_id, signature_hash),
    CONSTRAINT signed_request_replays_app_fkey FOREIGN KEY (app_id)
        REFERENCES apps (app_id) ON DELETE CASCADE
);
CREATE INDEX signed_request_replays_expiry_idx ON signed_request_replays (app_id, expires_at);

-- Audit evidence (issue #20): an RFC 6962 Merkle tree over each application's hash chain, signed
-- checkpoints of it, the server's checkpoint signing keys, and legal holds. docs/audit.md
-- ("Signed checkpoints and proofs") says how an auditor uses them.

-- The Merkle tree of an application's log, as its complete subtrees: the node (level, idx) is
-- the RFC 6962 hash of the leaves [idx * 2^level, (idx + 1) * 2^level). Leaf i (level 0) is the
-- event with seq i + 1: SHA-256(0x00 || event hash). An interior node is
-- SHA-256(0x01 || left || right). A node is written once, when its last leaf arrives, so an
-- append writes one leaf and on average one interior node (at most log2(n)); the root of any
-- size and every inclusion or consistency proof is read from O(log n) of these rows.
-- Pruning removes events, never nodes: later proofs still verify.
CREATE TABLE audit_merkle_nodes (
    app_id text     NOT NULL,
    level  smallint NOT NULL,
    idx    bigint   NOT NULL,
    hash   bytea    NOT NULL,
    CONSTRAINT audit_merkle_nodes_pkey PRIMARY KEY (app_id, level, idx),
    CONSTRAINT audit_merkle_nodes_level_check CHECK (level BETWEEN 0 AND 62),
    CONSTRAINT audit_merkle_nodes_hash_check CHECK (length(hash) = 32)
);

-- Written by the database as each event is inserted (every way of appending passes here, in
-- the event's own transaction). Climbs while the new node completes a pair. A missing left
-- sibling (only in a chain pruned before this table existed) ends the climb: no node is ever
-- wrong, some are absent, and what needs them answers that the tree is incomplete.
CREATE FUNCTION audit_events_merkle_append() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i     bigint   := NEW.seq - 1;
    lvl   smallint := 0;
    h     bytea    := sha256(decode('00', 'hex') || NEW.hash);
    left_ bytea;
BEGIN
    INSERT INTO audit_merkle_nodes (app_id, level, idx, hash) VALUES (NEW.app_id, 0, i, h);
    WHILE i % 2 = 1 LOOP
        SELECT n.hash INTO left_ FROM audit_merkle_nodes n
         WHERE n.app_id = NEW.app_id AND n.level = lvl AND n.idx = i - 1;
        EXIT WHEN left_ IS NULL;
        h := sha256(decode('01', 'hex') || left_ || h);
        i := i / 2;
        lvl := lvl + 1;
        INSERT INTO audit_merkle_nodes (app_id, level, idx, hash) VALUES (NEW.app_id, lvl, i, h);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_merkle
    AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_merkle_append();

-- The events already written: the leaves, then each level from the one below (set-based).
INSERT INTO audit_merkle_nodes (app_id, level, idx, hash)
SELECT app_id, 0, seq - 1, sha256(decode('00', 'hex') || hash) FROM audit_events;
DO $$
DECLARE
    lvl   smallint := 0;
    added bigint;
BEGIN
    LOOP
        INSERT INTO audit_merkle_nodes (app_id, level, idx, hash)
        SELECT l.app_id, lvl + 1, l.idx / 2, sha256(decode('01', 'hex') || l.hash || r.hash)
          FROM audit_merkle_nodes l
          JOIN audit_merkle_nodes r
            ON r.app_id = l.app_id AND r.level = lvl AND r.idx = l.idx + 1
         WHERE l.level = lvl AND l.idx % 2 = 0;
        GET DIAGNOSTICS added = ROW_COUNT;
        EXIT WHEN added = 0;
        lvl := lvl + 1;
    END LOOP;
END;
$$;

-- The tree, the checkpoints and the holds' history are evidence: no update, delete or truncate.
CREATE FUNCTION audit_evidence_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_merkle_nodes_append_only
    BEFORE UPDATE OR DELETE ON audit_merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_evidence_reject_change();
CREATE TRIGGER audit_merkle_nodes_no_truncate
    BEFORE TRUNCATE ON audit_merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_evidence_reject_change();

-- The server's Ed25519 keys that sign checkpoints. Server-wide, like the operator's console
-- sessions: a key belongs to the server, not to a tenant, so this table has no app_id (every
-- application's checkpoints name the key that signed them). The private key is stored only
-- sealed (AES-256-GCM under the sealing key, like sealed secrets). One key is current (no
-- retired_at); `latchkey audit key rotate` retires it and adds a new one. Retired keys stay
-- listed at GET /audit/keys so older checkpoints remain verifiable.
-- key_id: the signed-note key hash (first 4 bytes of SHA-256(name || "\n" || 0x01 || public
-- key)) in hex, as checkpoints and verifier keys show it.
CREATE TABLE audit_signing_keys (
    key_id         text        NOT NULL,
    name           text        NOT NULL,
    public_key     bytea       NOT NULL,
    sealed_private bytea       NOT NULL,
    sealing_key_id text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz NULL,
    CONSTRAINT audit_signing_keys_pkey PRIMARY KEY (key_id),
    CONSTRAINT audit_signing_keys_public_key_check CHECK (length(public_key) = 32),
    CONSTRAINT audit_signing_keys_key_id_check CHECK (key_id ~ '^[0-9a-f]{8}$')
);
CREATE UNIQUE INDEX audit_signing_keys_one_current ON audit_signing_keys ((true))
    WHERE retired_at IS NULL;

-- Signed checkpoints: one per (application, tree size), written by the checkpoint task of any
-- instance (a second instance's insert of the same size does nothing). `note` is the whole
-- C2SP signed note (tlog-checkpoint body: origin, tree size, base64 root; then the signature
-- line), exactly as served. Delivered by the audit sinks as records too, so kept flat.
CREATE TABLE audit_checkpoints (
    app_id     text        NOT NULL,
    tree_size  bigint      NOT NULL,
    root_hash  bytea       NOT NULL,
    note       text        NOT NULL,
    key_id     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (app_id, tree_size),
    CONSTRAINT audit_checkpoints_key_fkey FOREIGN KEY (key_id) REFERENCES audit_signing_keys (key_id),
    CONSTRAINT audit_checkpoints_tree_size_check CHECK (tree_size > 0),
    CONSTRAINT audit_checkpoints_root_hash_check CHECK (length(root_hash) = 32)
);
CREATE INDEX audit_checkpoints_time_idx ON audit_checkpoints (app_id, created_at);

CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_evidence_reject_change();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_evidence_reject_change();

-- Legal hold: until `until`, `latchkey audit prune` refuses to remove any event of the
-- application. Set and changed by `latchkey audit hold` (audited as audit.hold_set).
CREATE TABLE audit_holds (
    app_id     text        NOT NULL,
    until      timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_holds_pkey PRIMARY KEY (app_id),
    CONSTRAINT audit_holds_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE
);

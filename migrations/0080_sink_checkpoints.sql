-- Sinks deliver signed checkpoints too (issue #21; docs/streaming.md, "Signed checkpoints"), and
-- notice a log rewritten under their cursor (a failover that lost the last events).
--
-- delivered_checkpoint: every checkpoint of the application with tree_size <= it was delivered
-- (or made before the sink started, or left out by the action filter). A checkpoint of size N
-- is sent only once delivered_seq >= N: after the event of revision N. `rewind` sets both
-- cursors to the same place.
--
-- delivered_hash, delivered_at: the chain hash and time of the event at delivered_seq, as it was
-- when the cursor moved there (NULL: not known, e.g. after a rewind or before this migration).
-- If the log later holds no event at delivered_seq (the head is below the cursor) or another
-- one, the log was rewritten past the cursor (a failover to a standby that had not received the
-- last events): delivery goes back to the first event written since (by time) and counts it.
ALTER TABLE sink_cursors
    ADD COLUMN delivered_checkpoint bigint      NOT NULL DEFAULT 0,
    ADD COLUMN delivered_hash       bytea       NULL,
    ADD COLUMN delivered_at         timestamptz NULL,
    ADD CONSTRAINT sink_cursors_checkpoint_check CHECK (delivered_checkpoint >= 0);

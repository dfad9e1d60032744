-- Sinks: the audit log streamed to the systems that watch it (webhook, Splunk HEC, syslog;
-- docs/streaming.md).
--
-- Decision on keys. A sink is an operator-managed object that spans applications (its filter
-- may name several, or all, present and future), like an application itself: so `sinks` is
-- keyed by its own name, the way `apps` is keyed by `app_id`, not by an application. Everything
-- that belongs to one application follows the project rule: the delivery cursor of each
-- (application, sink) lives in `sink_cursors`, keyed (app_id, sink_name), and every query of it
-- names the application. On Citus, `sinks` is a reference table (a handful of rows, copied to
-- every node) and `sink_cursors` is distributed by app_id with the audit log.
CREATE TABLE sinks (
    name            text        NOT NULL,
    kind            text        NOT NULL,
    -- webhook and splunk_hec: where to POST.
    url             text        NULL,
    -- syslog: host:port, TLS (RFC 5425) and the CA file that verifies the receiver.
    address         text        NULL,
    tls             boolean     NOT NULL DEFAULT false,
    ca_file         text        NULL,
    -- splunk_hec: the sourcetype (and index) of each event.
    sourcetype      text        NULL,
    hec_index       text        NULL,
    -- Events per request (webhook, splunk_hec); 1: one event per request.
    batch_max       integer     NOT NULL DEFAULT 1,
    -- Filter: NULL means every application / every action.
    apps            text[]      NULL,
    actions         text[]      NULL,
    -- The webhook secret (whsec_…) or the HEC token, sealed (AES-256-GCM) under the sealing key
    -- like client secrets; never in clear text at rest, never in logs or audit rows.
    sealed_secret   bytea       NULL,
    sealing_key_id  text        NULL,
    paused          boolean     NOT NULL DEFAULT false,
    -- Why it is paused (the receiver's answer when a 4xx paused it; NULL when the operator did).
    paused_reason   text        NULL,
    last_error      text        NULL,
    last_error_at   timestamptz NULL,
    last_success_at timestamptz NULL,
    delivered_total bigint      NOT NULL DEFAULT 0,
    -- The advisory-lock key of the sink: one instance delivers a sink at a time.
    lock_key        integer     GENERATED ALWAYS AS IDENTITY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sinks_pkey PRIMARY KEY (name),
    CONSTRAINT sinks_lock_key_key UNIQUE (lock_key),
    CONSTRAINT sinks_kind_check CHECK (kind IN ('webhook', 'splunk_hec', 'syslog')),
    CONSTRAINT sinks_batch_max_check CHECK (batch_max BETWEEN 1 AND 1000)
);

-- How far a sink has delivered an application's log: every event with seq <= delivered_seq was
-- acknowledged by the receiver (or left out by the sink's action filter). No row: nothing
-- delivered yet (an application created after an all-applications sink starts from its first
-- event).
CREATE TABLE sink_cursors (
    app_id        text        NOT NULL,
    sink_name     text        NOT NULL,
    delivered_seq bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sink_cursors_pkey PRIMARY KEY (app_id, sink_name),
    CONSTRAINT sink_cursors_app_fkey FOREIGN KEY (app_id) REFERENCES apps (app_id) ON DELETE CASCADE,
    CONSTRAINT sink_cursors_sink_fkey FOREIGN KEY (sink_name) REFERENCES sinks (name) ON DELETE CASCADE,
    CONSTRAINT sink_cursors_seq_check CHECK (delivered_seq >= 0)
);
CREATE INDEX sink_cursors_sink_idx ON sink_cursors (sink_name);

//! The sink object: the answers of `/sinks` and what `latchkey sinks …` print.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::audit::format_time;
use crate::service::{CreatedSink, SinkView};

/// One application's place in a sink.
#[derive(Serialize, ToSchema)]
#[schema(as = SinkCursor)]
pub struct CursorBody {
    app_id: String,
    /// Every event up to this revision was delivered (or left out by the action filter).
    delivered_seq: i64,
    /// The application's latest revision.
    head_seq: i64,
    /// Every signed checkpoint up to this tree size was delivered (or made before the sink
    /// started, or left out by the action filter).
    delivered_checkpoint: i64,
}

/// A sink (never its secret, except `secret` right after it was made).
#[derive(Serialize, ToSchema)]
#[schema(as = Sink)]
pub struct SinkBody {
    name: String,
    #[schema(pattern = "^(webhook|splunk_hec|syslog)$")]
    kind: String,
    /// The URL (webhook, splunk_hec) or `host:port` (syslog).
    destination: String,
    tls: bool,
    ca_file: Option<String>,
    sourcetype: Option<String>,
    index: Option<String>,
    batch_max: i32,
    /// `null`: every application, also those created later.
    apps: Option<Vec<String>>,
    /// `null`: every action.
    actions: Option<Vec<String>>,
    paused: bool,
    /// Why the sink was paused by a receiver's answer (`null` when the operator paused it).
    paused_reason: Option<String>,
    last_error: Option<String>,
    /// RFC 3339.
    last_error_at: Option<String>,
    /// RFC 3339.
    last_success_at: Option<String>,
    delivered_total: i64,
    /// RFC 3339.
    created_at: String,
    /// Events not delivered yet over the covered applications (`GET /sinks/{name}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_events: Option<i64>,
    /// Per covered application (`GET /sinks/{name}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    cursors: Option<Vec<CursorBody>>,
    /// The webhook signing secret (`whsec_…`): only in the answers that make one.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl SinkBody {
    pub fn new(s: SinkView, secret: Option<String>) -> Self {
        let lag_events = s.lag();
        Self {
            kind: s.kind.as_str().to_owned(),
            name: s.name,
            destination: s.destination,
            tls: s.tls,
            ca_file: s.ca_file,
            sourcetype: s.sourcetype,
            index: s.index,
            batch_max: s.batch_max,
            apps: s.apps,
            actions: s.actions,
            paused: s.paused,
            paused_reason: s.paused_reason,
            last_error: s.last_error,
            last_error_at: s.last_error_at.as_ref().map(format_time),
            last_success_at: s.last_success_at.as_ref().map(format_time),
            delivered_total: s.delivered_total,
            created_at: format_time(&s.created_at),
            lag_events,
            cursors: s.progress.map(|p| {
                p.into_iter()
                    .map(|a| CursorBody {
                        app_id: a.app_id,
                        delivered_seq: a.delivered_seq,
                        head_seq: a.head_seq,
                        delivered_checkpoint: a.delivered_checkpoint,
                    })
                    .collect()
            }),
            secret,
        }
    }

    pub fn created(c: CreatedSink) -> Self {
        Self::new(c.sink, c.secret)
    }
}

//! What a receiver gets: the bodies of webhook and Splunk HEC requests, RFC 5424 syslog
//! messages with octet-counting framing (RFC 6587). Every event is the audit log's own record
//! (`StoredEvent::write_record`: the object the audit API and exports give, with its hashes),
//! so a receiver can verify the chain with `docs/audit_verify.py`.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::domain::audit::{format_time, StoredEvent};

/// The audit record of an event, as JSON text.
pub fn record(e: &StoredEvent) -> String {
    let mut out = String::with_capacity(700);
    e.write_record(&mut out);
    out
}

/// A webhook body: the event itself (`batch_max` 1), or `{"events":[…]}`.
pub fn webhook_body(events: &[&StoredEvent], batched: bool) -> String {
    if !batched {
        if let [one] = events {
            return record(one);
        }
    }
    let mut out = String::from("{\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        e.write_record(&mut out);
    }
    out.push_str("]}");
    out
}

/// The `webhook-id` of a request: the event id (one event), or for a batch
/// `<app_id>:<first seq>-<last seq>` (receivers deduplicate a batch's events by their
/// `event_id`; docs/streaming.md).
pub fn webhook_id(events: &[&StoredEvent], batched: bool) -> String {
    match (events, batched) {
        ([one], false) => one.event.event_id.to_string(),
        _ => {
            let first = events.first().map_or(0, |e| e.event.seq);
            let last = events.last().map_or(0, |e| e.event.seq);
            let app = events.first().map_or("", |e| e.event.app_id.as_str());
            format!("{app}:{first}-{last}")
        }
    }
}

/// One event of Splunk's HTTP Event Collector (`/services/collector/event`).
#[derive(Serialize)]
struct HecEvent<'a> {
    /// Epoch seconds with microseconds.
    time: &'a RawValue,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: &'a RawValue,
}

/// A HEC request body: the events' JSON objects one after the other (HEC's batch form).
pub fn hec_body(
    events: &[&StoredEvent],
    sourcetype: &str,
    index: Option<&str>,
) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for e in events {
        let t = e.event.occurred_at;
        let time = RawValue::from_string(format!(
            "{}.{:06}",
            t.timestamp(),
            t.timestamp_subsec_micros()
        ))?;
        let event = RawValue::from_string(record(e))?;
        out.push_str(&serde_json::to_string(&HecEvent {
            time: &time,
            source: "latchkey",
            sourcetype,
            index,
            event: &event,
        })?);
        out.push('\n');
    }
    Ok(out)
}

/// Facility 13 ("log audit") and severity 5 (notice): `<109>`.
pub const SYSLOG_PRI: u8 = 13 * 8 + 5;
/// The SD-ID of Latchkey's structured data. 32473 is the private enterprise number RFC 5612
/// reserves for documentation and examples (Latchkey has none of its own): receivers match on
/// the name `latchkey`.
pub const SD_ID: &str = "latchkey@32473";

/// An RFC 5424 message: header (timestamp = the event's time, MSGID = the action), structured
/// data `[latchkey@32473 app=… action=… client=… revision=… actor=… eventId=…]`, and the
/// event's audit record as MSG.
pub fn syslog_message(e: &StoredEvent, hostname: &str, procid: u32) -> String {
    let ev = &e.event;
    let mut out = String::with_capacity(1000);
    out.push_str(&format!(
        "<{SYSLOG_PRI}>1 {} {} latchkey {procid} {} [{SD_ID}",
        format_time(&ev.occurred_at),
        header_field(hostname, 255),
        header_field(ev.action.as_str(), 32),
    ));
    let revision = ev.seq.to_string();
    let event_id = ev.event_id.to_string();
    let params = [
        ("app", Some(ev.app_id.as_str())),
        ("action", Some(ev.action.as_str())),
        ("client", ev.target_client_id.as_deref()),
        ("revision", Some(revision.as_str())),
        ("actor", Some(ev.actor.as_str())),
        ("eventId", Some(event_id.as_str())),
    ];
    for (name, value) in params {
        if let Some(v) = value {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            for c in v.chars() {
                if matches!(c, '"' | '\\' | ']') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
    out.push_str("] ");
    e.write_record(&mut out);
    out
}

/// A header field: printable US-ASCII only, at most `max` characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v
    }
}

/// RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`.
pub fn octet_counted(message: &str) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::AuditEvent;

    fn event() -> StoredEvent {
        StoredEvent {
            event: AuditEvent {
                app_id: "a".repeat(26),
                seq: 7,
                event_id: uuid::Uuid::nil(),
                occurred_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456)
                    .unwrap(),
                actor: "operator".into(),
                actor_ip: None,
                request_id: "r".into(),
                action: crate::domain::audit_action::AuditAction::ClientUpdate,
                target_client_id: Some("c]\"\\".into()),
                features_before: None,
                features_after: None,
                changes: serde_json::json!({}),
                changes_text: None,
            },
            prev_hash: vec![0; 32],
            hash: vec![1; 32],
        }
    }

    #[test]
    fn syslog_line_and_framing() {
        let e = event();
        let msg = syslog_message(&e, "host one", 42);
        let app = "a".repeat(26);
        assert!(msg.starts_with(&format!(
            "<109>1 2023-11-14T22:13:20.123456Z hostone latchkey 42 client.update [latchkey@32473 app=\"{app}\" action=\"client.update\" client=\"c\\]\\\"\\\\\" revision=\"7\" actor=\"operator\" eventId=\"00000000-0000-0000-0000-000000000000\"] {{\"action\":"
        )), "{msg}");
        let framed = octet_counted("héllo");
        assert_eq!(framed, b"6 h\xc3\xa9llo");
    }

    #[test]
    fn hec_and_webhook_bodies() {
        let e = event();
        let body = hec_body(&[&e, &e], "latchkey:audit", None).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(
            "{\"time\":1700000000.123456,\"source\":\"latchkey\",\"sourcetype\":\"latchkey:audit\",\"event\":{\"action\":\"client.update\""
        ), "{}", lines[0]);
        assert_eq!(webhook_body(&[&e], false), record(&e));
        assert_eq!(
            webhook_body(&[&e], true),
            format!("{{\"events\":[{}]}}", record(&e))
        );
        assert_eq!(
            webhook_id(&[&e], false),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            webhook_id(&[&e, &e], true),
            format!("{}:7-7", "a".repeat(26))
        );
    }
}

//! What a receiver gets: the bodies of webhook and Splunk HEC requests, RFC 5424 syslog
//! messages with octet-counting framing (RFC 6587). Every event is the audit log's own record
//! (`StoredEvent::write_record`: the object the audit API and exports give, with its hashes),
//! so a receiver can verify the chain with `docs/audit_verify.py`. A signed checkpoint is a
//! record of its own kind (`"action":"checkpoint"`, [`checkpoint_record`]), sent alone.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::domain::audit::{format_time, StoredEvent};
use crate::store::evidence::CheckpointRow;

pub use crate::domain::sink::CHECKPOINT_ACTION;

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

/// The id of a checkpoint record: `checkpoint:<app_id>:<tree size>:<first 8 bytes of the root,
/// hex>`. Stable across re-deliveries (receivers drop duplicates by it); after a failover that
/// lost events, a checkpoint of the same size over other events has another root, so another id.
pub fn checkpoint_id(c: &CheckpointRow) -> String {
    let root: String = c
        .root_hash
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("checkpoint:{}:{}:{root}", c.app_id, c.tree_size)
}

/// A checkpoint as receivers get it: one JSON object, members sorted like the audit records.
#[derive(Serialize)]
struct CheckpointRecord<'a> {
    action: &'a str,
    app_id: &'a str,
    checkpoint_id: String,
    created_at: String,
    key_id: &'a str,
    /// The whole C2SP signed note (verify it with the key from `GET /audit/keys`).
    note: &'a str,
    root_hash: String,
    tree_size: i64,
}

/// The JSON record of a signed checkpoint: `{"action":"checkpoint","app_id",
/// "checkpoint_id","created_at","key_id","note","root_hash"(base64),"tree_size"}`.
pub fn checkpoint_record(c: &CheckpointRow) -> Result<String, serde_json::Error> {
    serde_json::to_string(&CheckpointRecord {
        action: CHECKPOINT_ACTION,
        app_id: &c.app_id,
        checkpoint_id: checkpoint_id(c),
        created_at: format_time(&c.created_at),
        key_id: &c.key_id,
        note: &c.note,
        root_hash: B64.encode(&c.root_hash),
        tree_size: c.tree_size,
    })
}

/// A webhook body for a checkpoint: the record, or `{"events":[record]}` for a batching sink
/// (the same shapes as events, so a receiver parses one way).
pub fn webhook_checkpoint_body(
    c: &CheckpointRow,
    batched: bool,
) -> Result<String, serde_json::Error> {
    let record = checkpoint_record(c)?;
    Ok(if batched {
        format!("{{\"events\":[{record}]}}")
    } else {
        record
    })
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
        hec_line(&mut out, &e.event.occurred_at, record(e), sourcetype, index)?;
    }
    Ok(out)
}

/// A HEC request body for a checkpoint: its record as the event, `time` when it was signed.
pub fn hec_checkpoint_body(
    c: &CheckpointRow,
    sourcetype: &str,
    index: Option<&str>,
) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    hec_line(
        &mut out,
        &c.created_at,
        checkpoint_record(c)?,
        sourcetype,
        index,
    )?;
    Ok(out)
}

fn hec_line(
    out: &mut String,
    t: &DateTime<Utc>,
    record: String,
    sourcetype: &str,
    index: Option<&str>,
) -> Result<(), serde_json::Error> {
    let time = RawValue::from_string(format!(
        "{}.{:06}",
        t.timestamp(),
        t.timestamp_subsec_micros()
    ))?;
    let event = RawValue::from_string(record)?;
    out.push_str(&serde_json::to_string(&HecEvent {
        time: &time,
        source: "latchkey",
        sourcetype,
        index,
        event: &event,
    })?);
    out.push('\n');
    Ok(())
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
    let mut out = syslog_head(
        &ev.occurred_at,
        hostname,
        procid,
        ev.action.as_str(),
        &params,
    );
    e.write_record(&mut out);
    out
}

/// An RFC 5424 message for a signed checkpoint: MSGID `checkpoint`, structured data
/// `[latchkey@32473 app=… action="checkpoint" treeSize=… rootHash=… keyId=… checkpointId=…]`,
/// and the checkpoint record (with the signed note) as MSG.
pub fn syslog_checkpoint_message(
    c: &CheckpointRow,
    hostname: &str,
    procid: u32,
) -> Result<String, serde_json::Error> {
    let size = c.tree_size.to_string();
    let root = B64.encode(&c.root_hash);
    let id = checkpoint_id(c);
    let params = [
        ("app", Some(c.app_id.as_str())),
        ("action", Some(CHECKPOINT_ACTION)),
        ("treeSize", Some(size.as_str())),
        ("rootHash", Some(root.as_str())),
        ("keyId", Some(c.key_id.as_str())),
        ("checkpointId", Some(id.as_str())),
    ];
    let mut out = syslog_head(&c.created_at, hostname, procid, CHECKPOINT_ACTION, &params);
    out.push_str(&checkpoint_record(c)?);
    Ok(out)
}

/// The header and structured data of a message, and the space before MSG.
fn syslog_head(
    time: &DateTime<Utc>,
    hostname: &str,
    procid: u32,
    msgid: &str,
    params: &[(&str, Option<&str>)],
) -> String {
    let mut out = String::with_capacity(1000);
    out.push_str(&format!(
        "<{SYSLOG_PRI}>1 {} {} latchkey {procid} {} [{SD_ID}",
        format_time(time),
        header_field(hostname, 255),
        header_field(msgid, 32),
    ));
    for &(name, value) in params {
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

    fn checkpoint() -> CheckpointRow {
        CheckpointRow {
            app_id: "a".repeat(26),
            tree_size: 7,
            root_hash: (0u8..32).collect(),
            note: "h/audit/a\n7\nAAEC\n\n\u{2014} h/audit c2ln\n".into(),
            key_id: "0a0b0c0d".into(),
            created_at: chrono::DateTime::from_timestamp_micros(1_700_000_001_000_001).unwrap(),
        }
    }

    #[test]
    fn checkpoint_records() {
        let c = checkpoint();
        let app = "a".repeat(26);
        let id = format!("checkpoint:{app}:7:0001020304050607");
        assert_eq!(checkpoint_id(&c), id);
        let root = B64.encode((0u8..32).collect::<Vec<u8>>());
        let record = format!(
            "{{\"action\":\"checkpoint\",\"app_id\":\"{app}\",\"checkpoint_id\":\"{id}\",\"created_at\":\"2023-11-14T22:13:21.000001Z\",\"key_id\":\"0a0b0c0d\",\"note\":\"h/audit/a\\n7\\nAAEC\\n\\n\u{2014} h/audit c2ln\\n\",\"root_hash\":\"{root}\",\"tree_size\":7}}"
        );
        assert_eq!(checkpoint_record(&c).unwrap(), record);
        assert_eq!(webhook_checkpoint_body(&c, false).unwrap(), record);
        assert_eq!(
            webhook_checkpoint_body(&c, true).unwrap(),
            format!("{{\"events\":[{record}]}}")
        );
        assert_eq!(
            hec_checkpoint_body(&c, "latchkey:audit", Some("sec")).unwrap(),
            format!("{{\"time\":1700000001.000001,\"source\":\"latchkey\",\"sourcetype\":\"latchkey:audit\",\"index\":\"sec\",\"event\":{record}}}\n")
        );
        assert_eq!(
            syslog_checkpoint_message(&c, "host", 42).unwrap(),
            format!("<109>1 2023-11-14T22:13:21.000001Z host latchkey 42 checkpoint [latchkey@32473 app=\"{app}\" action=\"checkpoint\" treeSize=\"7\" rootHash=\"{root}\" keyId=\"0a0b0c0d\" checkpointId=\"{id}\"] {record}")
        );
    }
}

//! Audit events and the per-application hash chain.
//!
//! `hash = SHA-256(prev_hash || canonical_json(event))`, where `prev_hash` is 32 zero bytes for
//! the first event of an application and `canonical_json` is the compact JSON object of the
//! fields below with keys sorted by byte order, no insignificant whitespace, strings escaped as
//! serde_json escapes them, `occurred_at` as RFC 3339 UTC with exactly six fractional digits and a
//! `Z`, and absent values as `null`. An auditor can recompute it with `jq -cS` and `sha256sum`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Who made a change: a client of the application, or the platform operator.
pub const OPERATOR_ACTOR: &str = "operator";

/// An event as it is chained: everything except `prev_hash` and `hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub app_id: String,
    pub seq: i64,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_ip: Option<String>,
    pub request_id: String,
    pub action: String,
    pub target_client_id: Option<String>,
    pub features_before: Option<Vec<String>>,
    pub features_after: Option<Vec<String>>,
    pub changes: Value,
}

/// Timestamps are cut to microseconds so that what PostgreSQL stores hashes the same way.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl AuditEvent {
    /// The canonical encoding hashed into the chain (see the module docs).
    pub fn canonical_json(&self) -> String {
        // serde_json's Map is a BTreeMap here (no `preserve_order`), so keys come out sorted.
        json!({
            "action": self.action,
            "actor": self.actor,
            "actor_ip": self.actor_ip,
            "app_id": self.app_id,
            "changes": self.changes,
            "event_id": self.event_id.to_string(),
            "features_after": self.features_after,
            "features_before": self.features_before,
            "occurred_at": format_time(&self.occurred_at),
            "request_id": self.request_id,
            "seq": self.seq,
            "target_client_id": self.target_client_id,
        })
        .to_string()
    }

    pub fn chain_hash(&self, prev_hash: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(prev_hash);
        h.update(self.canonical_json().as_bytes());
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            app_id: "a".repeat(26),
            seq: 1,
            event_id: Uuid::nil(),
            occurred_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            actor: "operator".into(),
            actor_ip: Some("127.0.0.1".into()),
            request_id: "r".repeat(16),
            action: "client.create".into(),
            target_client_id: Some("c".repeat(32)),
            features_before: None,
            features_after: Some(vec!["owner".into()]),
            changes: json!({"name": {"to": "x", "from": null}}),
        }
    }

    #[test]
    fn canonical_json_is_sorted_and_compact() {
        let s = event().canonical_json();
        assert!(
            s.starts_with(
                r#"{"action":"client.create","actor":"operator","actor_ip":"127.0.0.1","app_id":"#
            ),
            "{s}"
        );
        assert!(
            s.contains(r#""changes":{"name":{"from":null,"to":"x"}}"#),
            "{s}"
        );
        assert!(s.contains(r#""features_before":null"#));
        assert!(
            s.contains(r#""occurred_at":"2023-11-14T22:13:20.123456Z""#),
            "{s}"
        );
        assert!(!s.contains(' '));
    }

    #[test]
    fn hash_depends_on_prev_and_on_every_field() {
        let e = event();
        let h1 = e.chain_hash(&GENESIS_HASH);
        assert_eq!(h1, e.chain_hash(&GENESIS_HASH));
        assert_ne!(h1, e.chain_hash(&[1u8; 32]));
        let mut e2 = e.clone();
        e2.seq = 2;
        assert_ne!(h1, e2.chain_hash(&GENESIS_HASH));
        let mut e3 = e.clone();
        e3.features_after = Some(vec!["owner".into(), "metadata".into()]);
        assert_ne!(h1, e3.chain_hash(&GENESIS_HASH));
    }

    #[test]
    fn hash_matches_a_plain_sha256_recipe() {
        let e = event();
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(e.canonical_json());
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(e.chain_hash(&GENESIS_HASH), expected);
    }
}

//! The permission report for a period: per client, the features it held at the start and at the
//! end, and every grant or revocation in between with who did it, when and from where.
//!
//! The state at the start is read backwards from the log: it is the `features_before` of the
//! client's first feature-recording event at or after `since` (or, with no such event, its current
//! features). This needs only the events from `since` on, so the report stays right after older
//! events have been pruned.

use chrono::{DateTime, Utc};

use super::audit::{format_time, AuditAction, AuditEvent};

/// One grant or revocation (or creation / deletion) of a client's features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionChange {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub action: AuditAction,
    pub actor: String,
    /// The actor's client name, when the actor is a client whose name is known.
    pub actor_name: Option<String>,
    pub actor_ip: Option<String>,
    pub request_id: String,
    pub granted: Vec<String>,
    pub revoked: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPermissions {
    pub client_id: String,
    pub name: Option<String>,
    /// `None`: the client did not exist at the start of the period.
    pub at_start: Option<Vec<String>>,
    /// `None`: the client did not exist at the end of the period.
    pub at_end: Option<Vec<String>>,
    pub changes: Vec<PermissionChange>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub app_id: String,
    pub app_name: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub clients: Vec<ClientPermissions>,
}

/// What the log says about one client, as the store found it.
pub struct ClientHistory<'a> {
    pub client_id: &'a str,
    pub name: Option<String>,
    /// The client's first event at or after `since` that records features (any time later).
    pub first_since: Option<&'a AuditEvent>,
    /// Its features now, if it exists now.
    pub current: Option<&'a [String]>,
    /// Its grants, revocations, creation and deletion in `[since, until)`, in chain order.
    pub in_period: &'a [AuditEvent],
}

/// A client's line of the report; `None` when it did not exist at any time of the period.
pub fn client_permissions(
    h: ClientHistory<'_>,
    actor_name: impl Fn(&str) -> Option<String>,
) -> Option<ClientPermissions> {
    let at_start = match h.first_since {
        Some(e) if e.action == AuditAction::ClientCreate => None,
        Some(e) => Some(e.features_before.clone().unwrap_or_default()),
        None => h.current.map(<[String]>::to_vec),
    };
    let at_end = match h.in_period.last() {
        Some(e) if e.action == AuditAction::ClientDelete => None,
        Some(e) => Some(e.features_after.clone().unwrap_or_default()),
        None => at_start.clone(),
    };
    if at_start.is_none() && at_end.is_none() && h.in_period.is_empty() {
        return None;
    }
    let changes = h
        .in_period
        .iter()
        .map(|e| {
            let (granted, revoked) = e.feature_delta();
            PermissionChange {
                seq: e.seq,
                occurred_at: e.occurred_at,
                action: e.action,
                actor: e.actor.clone(),
                actor_name: actor_name(&e.actor),
                actor_ip: e.actor_ip.clone(),
                request_id: e.request_id.clone(),
                granted,
                revoked,
            }
        })
        .collect();
    Some(ClientPermissions {
        client_id: h.client_id.to_owned(),
        name: h.name,
        at_start,
        at_end,
        changes,
    })
}

fn features_text(f: &Option<Vec<String>>) -> String {
    match f {
        None => "(did not exist)".into(),
        Some(f) if f.is_empty() => "(no features)".into(),
        Some(f) => f.join(", "),
    }
}

impl PermissionChange {
    fn what(&self) -> String {
        let mut parts = Vec::new();
        match self.action {
            AuditAction::ClientCreate => parts.push("created".to_owned()),
            AuditAction::ClientDelete => parts.push("deleted".to_owned()),
            _ => {}
        }
        if !self.granted.is_empty() {
            parts.push(format!("granted {}", self.granted.join(", ")));
        }
        if !self.revoked.is_empty() {
            parts.push(format!("revoked {}", self.revoked.join(", ")));
        }
        parts.join("; ")
    }

    fn who(&self) -> String {
        let actor = match &self.actor_name {
            Some(name) => format!("{name:?} ({})", self.actor),
            None => self.actor.clone(),
        };
        match &self.actor_ip {
            Some(ip) => format!("{actor} from {ip}"),
            None => actor,
        }
    }
}

impl AuditReport {
    /// The human-readable summary `latchkey audit report` prints.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Audit report for application {:?} ({})\nPeriod: {} to {} (start included, end excluded)\nClients: {}\n",
            self.app_name,
            self.app_id,
            format_time(&self.since),
            format_time(&self.until),
            self.clients.len()
        );
        for c in &self.clients {
            let name = c
                .name
                .as_deref()
                .map_or("(unnamed)".to_owned(), |n| format!("{n:?}"));
            out.push_str(&format!("\n{name} ({})\n", c.client_id));
            out.push_str(&format!("  at start: {}\n", features_text(&c.at_start)));
            out.push_str(&format!("  at end:   {}\n", features_text(&c.at_end)));
            if c.changes.is_empty() {
                out.push_str("  no grants or revocations in the period\n");
            }
            for ch in &c.changes {
                out.push_str(&format!(
                    "  {}  {}  by {}  [{} seq {}, request {}]\n",
                    format_time(&ch.occurred_at),
                    ch.what(),
                    ch.who(),
                    ch.action,
                    ch.seq,
                    ch.request_id
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(seq: i64, action: AuditAction, before: &[&str], after: &[&str]) -> AuditEvent {
        AuditEvent {
            app_id: "app".into(),
            seq,
            event_id: uuid::Uuid::nil(),
            occurred_at: DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap(),
            actor: "owner1".into(),
            actor_ip: Some("10.0.0.1".into()),
            request_id: format!("req{seq}"),
            action,
            target_client_id: Some("c1".into()),
            features_before: Some(before.iter().map(|s| s.to_string()).collect()),
            features_after: Some(after.iter().map(|s| s.to_string()).collect()),
            changes: json!({}),
            changes_text: None,
        }
    }

    fn names(n: &str) -> Option<String> {
        (n == "owner1").then(|| "owner".to_owned())
    }

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn start_comes_from_the_first_event_since_and_end_from_the_last_in_period() {
        let e1 = ev(
            5,
            AuditAction::ClientUpdate,
            &["direct_read_access"],
            &["direct_access", "direct_read_access"],
        );
        let e2 = ev(
            6,
            AuditAction::ClientUpdate,
            &["direct_access", "direct_read_access"],
            &["direct_access"],
        );
        let period = [e1.clone(), e2];
        let r = client_permissions(
            ClientHistory {
                client_id: "c1",
                name: Some("mailer".into()),
                first_since: Some(&e1),
                current: Some(&v(&["owner"])),
                in_period: &period,
            },
            names,
        )
        .unwrap();
        assert_eq!(r.at_start, Some(v(&["direct_read_access"])));
        assert_eq!(r.at_end, Some(v(&["direct_access"])));
        assert_eq!(r.changes.len(), 2);
        assert_eq!(
            (r.changes[0].granted.clone(), r.changes[0].revoked.clone()),
            (v(&["direct_access"]), v(&[]))
        );
        assert_eq!(
            (r.changes[1].granted.clone(), r.changes[1].revoked.clone()),
            (v(&[]), v(&["direct_read_access"]))
        );
        assert_eq!(r.changes[0].actor_name.as_deref(), Some("owner"));
    }

    #[test]
    fn unchanged_clients_hold_their_current_features_throughout() {
        let r = client_permissions(
            ClientHistory {
                client_id: "c1",
                name: None,
                first_since: None,
                current: Some(&v(&["owner"])),
                in_period: &[],
            },
            names,
        )
        .unwrap();
        assert_eq!(
            (r.at_start.clone(), r.at_end.clone()),
            (Some(v(&["owner"])), Some(v(&["owner"])))
        );
        // A change after the period: the start is read from it, and nothing changed inside.
        let later = ev(9, AuditAction::ClientUpdate, &["login_client"], &["owner"]);
        let r = client_permissions(
            ClientHistory {
                client_id: "c1",
                name: None,
                first_since: Some(&later),
                current: Some(&v(&["owner"])),
                in_period: &[],
            },
            names,
        )
        .unwrap();
        assert_eq!(
            (r.at_start, r.at_end),
            (Some(v(&["login_client"])), Some(v(&["login_client"])))
        );
    }

    #[test]
    fn creation_and_deletion_bound_existence() {
        let c = ev(3, AuditAction::ClientCreate, &[], &["direct_access"]);
        let d = ev(4, AuditAction::ClientDelete, &["direct_access"], &[]);
        let period = [c.clone(), d];
        let r = client_permissions(
            ClientHistory {
                client_id: "c1",
                name: Some("temp".into()),
                first_since: Some(&c),
                current: None,
                in_period: &period,
            },
            names,
        )
        .unwrap();
        assert_eq!((r.at_start.clone(), r.at_end.clone()), (None, None));
        assert_eq!(
            r.changes
                .iter()
                .map(PermissionChange::what)
                .collect::<Vec<_>>(),
            [
                "created; granted direct_access",
                "deleted; revoked direct_access"
            ]
        );
        // Created only after the period, or deleted before it: not in the report.
        assert!(client_permissions(
            ClientHistory {
                client_id: "c1",
                name: None,
                first_since: Some(&c),
                current: Some(&v(&[])),
                in_period: &[]
            },
            names
        )
        .is_none());
        assert!(client_permissions(
            ClientHistory {
                client_id: "c1",
                name: None,
                first_since: None,
                current: None,
                in_period: &[]
            },
            names
        )
        .is_none());
    }

    #[test]
    fn text_and_json_render_the_same_facts() {
        let c = ev(3, AuditAction::ClientCreate, &[], &["direct_access"]);
        let period = [c.clone()];
        let client = client_permissions(
            ClientHistory {
                client_id: "c1",
                name: Some("a, \"b\"".into()),
                first_since: Some(&c),
                current: Some(&v(&["direct_access"])),
                in_period: &period,
            },
            names,
        )
        .unwrap();
        let report = AuditReport {
            app_id: "app".into(),
            app_name: "shop".into(),
            since: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            until: DateTime::from_timestamp(1_700_000_100, 0).unwrap(),
            clients: vec![client],
        };
        let text = report.to_text();
        assert!(
            text.contains(
                "\"a, \\\"b\\\"\" (c1)\n  at start: (did not exist)\n  at end:   direct_access\n"
            ),
            "{text}"
        );
        assert!(text.contains("2023-11-14T22:13:23.000000Z  created; granted direct_access  by \"owner\" (owner1) from 10.0.0.1  [client.create seq 3, request req3]"), "{text}");
    }
}

//! Audit answers: the chain verdict (`GET /config/{appId}/audit/verify`, `latchkey audit
//! verify`), and what `latchkey audit report --format json` and `latchkey audit prune` print.
//!
//! These were JSON maps before, so their keys went out sorted; the fields are declared in that
//! order to keep every byte of the answers.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::audit::{format_time, AuditAction};
use crate::domain::audit_report::{AuditReport, ClientPermissions, PermissionChange};
use crate::domain::audit_verify::{AnchorStatus, Verdict};
use crate::service::PruneOutcome;

/// The verdict of a walk over the hash chain: `intact` or `broken`.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditVerdict)]
#[serde(untagged)]
pub enum VerdictBody {
    Intact(IntactChain),
    Broken(BrokenChain),
}

/// Every event verified, the head matched, and each anchor given was found (or pruned).
#[derive(Serialize, ToSchema)]
pub struct IntactChain {
    anchors: Vec<AnchorBody>,
    app_id: String,
    /// Events verified.
    count: u64,
    /// The first `seq` still stored (after pruning it is not 1); `null` for an empty log.
    first_seq: Option<i64>,
    /// Hex.
    head_hash: String,
    head_seq: i64,
    /// The prefix a checkpoint declares removed, if the log starts after one.
    pruned_through_seq: Option<i64>,
    /// `intact`.
    #[schema(pattern = "^intact$")]
    status: &'static str,
}

/// An anchor given with the request, and what became of it.
#[derive(Serialize, ToSchema)]
pub struct AnchorBody {
    /// Hex.
    hash: String,
    seq: i64,
    /// `matched`, or `pruned` (removed by pruning: nothing left to compare with).
    #[schema(pattern = "^(matched|pruned)$")]
    status: &'static str,
}

/// The first place where the chain does not verify.
#[derive(Serialize, ToSchema)]
pub struct BrokenChain {
    app_id: String,
    message: String,
    #[schema(pattern = "^(missing|altered|unlinked|head_mismatch|anchor_mismatch)$")]
    problem: &'static str,
    seq: i64,
    /// `broken`.
    #[schema(pattern = "^broken$")]
    status: &'static str,
    /// Events verified before the break.
    verified: u64,
}

impl VerdictBody {
    pub fn new(verdict: Verdict, app_id: &str) -> Self {
        match verdict {
            Verdict::Intact {
                count,
                first_seq,
                head_seq,
                head_hash,
                pruned_through,
                anchors,
            } => Self::Intact(IntactChain {
                anchors: anchors
                    .into_iter()
                    .map(|(a, s)| AnchorBody {
                        hash: hex::encode(&a.hash),
                        seq: a.seq,
                        status: match s {
                            AnchorStatus::Matched => "matched",
                            AnchorStatus::Pruned => "pruned",
                        },
                    })
                    .collect(),
                app_id: app_id.to_owned(),
                count,
                first_seq,
                head_hash: hex::encode(head_hash),
                head_seq,
                pruned_through_seq: pruned_through,
                status: "intact",
            }),
            Verdict::Broken { at, verified } => Self::Broken(BrokenChain {
                app_id: app_id.to_owned(),
                message: at.message,
                problem: at.problem.as_str(),
                seq: at.seq,
                status: "broken",
                verified,
            }),
        }
    }
}

/// `latchkey audit report --format json`.
#[derive(Serialize)]
pub struct ReportBody {
    app_id: String,
    app_name: String,
    clients: Vec<ReportClient>,
    since: String,
    until: String,
}

#[derive(Serialize)]
struct ReportClient {
    /// `null`: the client did not exist at the end of the period.
    at_end: Option<Vec<String>>,
    /// `null`: the client did not exist at the start of the period.
    at_start: Option<Vec<String>>,
    changes: Vec<ReportChange>,
    client_id: String,
    name: Option<String>,
}

#[derive(Serialize)]
struct ReportChange {
    action: AuditAction,
    actor: String,
    actor_ip: Option<String>,
    actor_name: Option<String>,
    granted: Vec<String>,
    occurred_at: String,
    request_id: String,
    revoked: Vec<String>,
    seq: i64,
}

impl ReportBody {
    pub fn new(r: AuditReport) -> Self {
        Self {
            app_id: r.app_id,
            app_name: r.app_name,
            clients: r.clients.into_iter().map(ReportClient::new).collect(),
            since: format_time(&r.since),
            until: format_time(&r.until),
        }
    }
}

impl ReportClient {
    fn new(c: ClientPermissions) -> Self {
        Self {
            at_end: c.at_end,
            at_start: c.at_start,
            changes: c.changes.into_iter().map(ReportChange::new).collect(),
            client_id: c.client_id,
            name: c.name,
        }
    }
}

impl ReportChange {
    fn new(ch: PermissionChange) -> Self {
        Self {
            action: ch.action,
            actor: ch.actor,
            actor_ip: ch.actor_ip,
            actor_name: ch.actor_name,
            granted: ch.granted,
            occurred_at: format_time(&ch.occurred_at),
            request_id: ch.request_id,
            revoked: ch.revoked,
            seq: ch.seq,
        }
    }
}

/// One line of `latchkey audit prune`.
#[derive(Serialize)]
pub struct PruneBody {
    app_id: String,
    /// The checkpoint event written before the removal.
    checkpoint_seq: Option<i64>,
    keep_days: Option<i32>,
    /// Events removed (0: nothing had expired, or no retention is set).
    pruned: u64,
    pruned_through_seq: Option<i64>,
}

impl PruneBody {
    pub fn new(o: PruneOutcome) -> Self {
        Self {
            app_id: o.app_id,
            checkpoint_seq: o.checkpoint_seq,
            keep_days: o.keep_days,
            pruned: o.pruned,
            pruned_through_seq: o.through_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::domain::audit_verify::{Anchor, Break, Problem};

    #[test]
    fn the_verdict_names_the_problem_in_the_order_it_always_had() {
        let broken = Verdict::Broken {
            at: Break {
                seq: 1,
                problem: Problem::Missing,
                message: "event 1 is missing".into(),
            },
            verified: 0,
        };
        assert_eq!(
            serde_json::to_string(&VerdictBody::new(broken, "app")).unwrap(),
            r#"{"app_id":"app","message":"event 1 is missing","problem":"missing","seq":1,"status":"broken","verified":0}"#
        );
        let intact = Verdict::Intact {
            count: 2,
            first_seq: Some(1),
            head_seq: 2,
            head_hash: vec![0xab; 2],
            pruned_through: None,
            anchors: vec![(
                Anchor {
                    seq: 1,
                    hash: vec![0x0f],
                },
                AnchorStatus::Matched,
            )],
        };
        assert_eq!(
            serde_json::to_string(&VerdictBody::new(intact, "app")).unwrap(),
            r#"{"anchors":[{"hash":"0f","seq":1,"status":"matched"}],"app_id":"app","count":2,"first_seq":1,"head_hash":"abab","head_seq":2,"pruned_through_seq":null,"status":"intact"}"#
        );
    }

    #[test]
    fn the_report_keeps_null_for_a_client_that_did_not_exist() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let report = AuditReport {
            app_id: "app".into(),
            app_name: "shop".into(),
            since: at,
            until: at,
            clients: vec![ClientPermissions {
                client_id: "c1".into(),
                name: None,
                at_start: None,
                at_end: Some(vec!["direct_access".into()]),
                changes: vec![PermissionChange {
                    seq: 3,
                    occurred_at: at,
                    action: AuditAction::ClientCreate,
                    actor: "owner1".into(),
                    actor_name: None,
                    actor_ip: None,
                    request_id: "req3".into(),
                    granted: vec!["direct_access".into()],
                    revoked: vec![],
                }],
            }],
        };
        let j = serde_json::to_value(ReportBody::new(report)).unwrap();
        assert_eq!(j["clients"][0]["at_start"], serde_json::Value::Null);
        assert_eq!(
            j["clients"][0]["changes"][0]["granted"],
            json!(["direct_access"])
        );
    }
}

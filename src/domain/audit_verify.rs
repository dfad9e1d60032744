//! Verifying an application's audit chain: pure, fed one stored event at a time (constant
//! memory whatever the length of the log).
//!
//! What it proves: every stored event hashes to its stored `hash`, links to the previous one by
//! `prev_hash`, and `seq` runs without gaps from the start of the log to the chain head; the start
//! is either `seq` 1 from the genesis hash or the end of a prefix that a checkpoint event
//! (`audit.prune`) declares removed, with that prefix's hash. What it cannot prove on its own:
//! that someone able to write to the database did not rewrite the whole chain from some point on
//! (the hash is unkeyed). Anchors close that gap: a `(seq, hash)` pair recorded earlier (e.g. the
//! head an auditor noted last quarter) must still be in the chain.

use super::audit::{AuditAction, AuditEvent, GENESIS_HASH};
use super::audit_query::AuditInputError;

/// What a checkpoint event declares: events up to `through_seq` were removed, and the chain
/// value after the last of them was `through_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `seq` of the checkpoint event itself.
    pub seq: i64,
    pub through_seq: i64,
    pub through_hash: Vec<u8>,
}

impl Checkpoint {
    /// The checkpoint an event declares, when it is a well-formed `audit.prune` event.
    pub fn from_event(e: &AuditEvent) -> Option<Checkpoint> {
        if e.action != AuditAction::AuditPrune {
            return None;
        }
        let through_seq = e.changes.get("prunedThroughSeq")?.as_i64()?;
        let through_hash = hex::decode(e.changes.get("prunedThroughHash")?.as_str()?).ok()?;
        // A checkpoint can only speak about events before itself.
        (through_hash.len() == 32 && through_seq < e.seq).then_some(Checkpoint {
            seq: e.seq,
            through_seq,
            through_hash,
        })
    }
}

/// A `(seq, hash)` pair recorded earlier, which must still be in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: Vec<u8>,
}

impl std::str::FromStr for Anchor {
    type Err = AuditInputError;

    /// `SEQ:HASH`, the hash in hex (as `verify` prints the head).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AuditInputError::BadAnchor;
        let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.trim().parse().map_err(|_| bad())?;
        let hash = hex::decode(hash.trim()).map_err(|_| bad())?;
        if seq < 1 || hash.len() != 32 {
            return Err(bad());
        }
        Ok(Anchor { seq, hash })
    }
}

/// The chain head as `audit_heads` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The event with this `seq` is not in the log.
    Missing,
    /// The event's content no longer hashes to its stored hash: it was edited.
    Altered,
    /// The event does not link to the previous event's hash: the previous event was replaced,
    /// or events were reordered or re-chained.
    Unlinked,
    /// The chain head does not match the last event.
    HeadMismatch,
    /// A recorded anchor no longer matches: history was rewritten from this event on.
    AnchorMismatch,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Altered => "altered",
            Problem::Unlinked => "unlinked",
            Problem::HeadMismatch => "head_mismatch",
            Problem::AnchorMismatch => "anchor_mismatch",
        }
    }
}

/// The first place where the chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub seq: i64,
    pub problem: Problem,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorStatus {
    Matched,
    /// Removed by pruning and not the end of a pruned prefix: nothing left to compare with.
    Pruned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        /// Events verified.
        count: u64,
        /// First `seq` still stored (after pruning it is not 1); `None` for an empty log.
        first_seq: Option<i64>,
        head_seq: i64,
        head_hash: Vec<u8>,
        /// The prefix a checkpoint declares removed, if the log starts after one.
        pruned_through: Option<i64>,
        anchors: Vec<(Anchor, AnchorStatus)>,
    },
    Broken {
        at: Break,
        /// Events verified before the break.
        verified: u64,
    },
}

impl Verdict {
    pub fn is_intact(&self) -> bool {
        matches!(self, Verdict::Intact { .. })
    }
}

/// Walks a chain in `seq` order. Feed every stored event with [`ChainVerifier::push`] until it
/// returns `false` (a break was found), then call [`ChainVerifier::finish`].
#[derive(Debug)]
pub struct ChainVerifier {
    checkpoints: Vec<Checkpoint>,
    anchors: Vec<(Anchor, Option<AnchorStatus>)>,
    first_seq: Option<i64>,
    last_seq: i64,
    running: Vec<u8>,
    count: u64,
    pruned_through: Option<i64>,
    broken: Option<Break>,
}

impl ChainVerifier {
    /// `checkpoints`: every checkpoint the stored log declares (read before the walk, since the
    /// start of a pruned log is vouched for by a checkpoint that comes later in the chain; each
    /// is then verified as an ordinary event when the walk reaches it).
    pub fn new(checkpoints: Vec<Checkpoint>, anchors: Vec<Anchor>) -> Self {
        Self {
            checkpoints,
            anchors: anchors.into_iter().map(|a| (a, None)).collect(),
            first_seq: None,
            last_seq: 0,
            running: GENESIS_HASH.to_vec(),
            count: 0,
            pruned_through: None,
            broken: None,
        }
    }

    fn fail(&mut self, seq: i64, problem: Problem, message: String) -> bool {
        self.broken = Some(Break {
            seq,
            problem,
            message,
        });
        false
    }

    /// Checks the next stored event. `false`: the chain is broken here; stop feeding.
    pub fn push(&mut self, event: &AuditEvent, prev_hash: &[u8], hash: &[u8]) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let seq = event.seq;
        if self.first_seq.is_none() {
            if !self.start(seq, prev_hash) {
                return false;
            }
        } else if seq != self.last_seq + 1 {
            let first_missing = self.last_seq + 1;
            return self.fail(
                first_missing,
                Problem::Missing,
                missing_message(first_missing, seq - 1),
            );
        }
        if prev_hash != self.running.as_slice() {
            return self.fail(
                seq,
                Problem::Unlinked,
                format!("event {seq} does not link to the hash of the event before it"),
            );
        }
        let computed = event.chain_hash(&self.running);
        if computed.as_slice() != hash {
            return self.fail(
                seq,
                Problem::Altered,
                format!("event {seq} does not match its hash: its content was changed"),
            );
        }
        // A checkpoint about a prefix that is still (partly) stored must agree with it.
        if let Some(cp) = self.checkpoints.iter().find(|c| c.through_seq == seq) {
            if cp.through_hash.as_slice() != computed.as_slice() {
                let cp_seq = cp.seq;
                return self.fail(
                    seq,
                    Problem::Altered,
                    format!(
                        "event {seq} does not match the hash checkpoint {cp_seq} recorded for it"
                    ),
                );
            }
        }
        for (anchor, status) in &mut self.anchors {
            if anchor.seq == seq {
                if anchor.hash.as_slice() != computed.as_slice() {
                    self.broken = Some(Break {
                        seq,
                        problem: Problem::AnchorMismatch,
                        message: format!(
                            "event {seq} no longer has the anchored hash: the log was rewritten from here on"
                        ),
                    });
                    return false;
                }
                *status = Some(AnchorStatus::Matched);
            }
        }
        self.running = computed.to_vec();
        self.last_seq = seq;
        self.count += 1;
        true
    }

    /// The first stored event: `seq` 1 from the genesis hash, or right after a declared prefix.
    fn start(&mut self, seq: i64, prev_hash: &[u8]) -> bool {
        self.first_seq = Some(seq);
        if seq == 1 {
            self.running = GENESIS_HASH.to_vec();
            return true;
        }
        match self.checkpoints.iter().find(|c| c.through_seq == seq - 1) {
            Some(cp) => {
                self.running = cp.through_hash.clone();
                self.pruned_through = Some(cp.through_seq);
                if cp.through_hash.as_slice() != prev_hash {
                    let cp_seq = cp.seq;
                    return self.fail(
                        seq,
                        Problem::Unlinked,
                        format!(
                            "event {seq} does not link to the hash checkpoint {cp_seq} recorded for the pruned events"
                        ),
                    );
                }
                true
            }
            None => {
                // The events before `seq` are gone and no checkpoint accounts for them all.
                let first_missing = self
                    .checkpoints
                    .iter()
                    .map(|c| c.through_seq)
                    .filter(|t| *t < seq - 1)
                    .max()
                    .map_or(1, |t| t + 1);
                self.fail(
                    first_missing,
                    Problem::Missing,
                    missing_message(first_missing, seq - 1),
                )
            }
        }
    }

    /// The verdict, given the chain head as recorded (`None`: no head row at all).
    pub fn finish(mut self, head: Option<&ChainHead>) -> Verdict {
        if self.broken.is_none() {
            self.check_head(head);
        }
        if self.broken.is_none() {
            self.check_unseen_anchors();
        }
        match self.broken {
            Some(at) => Verdict::Broken {
                at,
                verified: self.count,
            },
            None => Verdict::Intact {
                count: self.count,
                first_seq: self.first_seq,
                head_seq: self.last_seq,
                head_hash: self.running,
                pruned_through: self.pruned_through,
                anchors: self
                    .anchors
                    .into_iter()
                    .map(|(a, s)| (a, s.unwrap_or(AnchorStatus::Pruned)))
                    .collect(),
            },
        }
    }

    fn check_head(&mut self, head: Option<&ChainHead>) {
        let Some(head) = head else {
            let seq = self.last_seq + 1;
            self.fail(
                seq,
                Problem::HeadMismatch,
                "the chain head is missing".into(),
            );
            return;
        };
        if head.seq > self.last_seq {
            let first_missing = self.last_seq + 1;
            self.fail(
                first_missing,
                Problem::Missing,
                format!(
                    "{} (the chain head is at {}: the log was cut short)",
                    missing_message(first_missing, head.seq),
                    head.seq
                ),
            );
        } else if head.seq < self.last_seq {
            let seq = head.seq + 1;
            self.fail(
                seq,
                Problem::HeadMismatch,
                format!(
                    "the chain head is at {} but events continue to {}",
                    head.seq, self.last_seq
                ),
            );
        } else if head.hash != self.running {
            let seq = head.seq;
            self.fail(
                seq,
                Problem::HeadMismatch,
                format!("the chain head's hash does not match event {seq}"),
            );
        }
    }

    /// Anchors the walk did not meet: before the stored log (pruned) or after its end (cut).
    fn check_unseen_anchors(&mut self) {
        let first = self.first_seq.unwrap_or(self.last_seq + 1);
        let mut cut: Option<Break> = None;
        for (anchor, status) in &mut self.anchors {
            if status.is_some() {
                continue;
            }
            if anchor.seq > self.last_seq {
                let b = Break {
                    seq: anchor.seq,
                    problem: Problem::Missing,
                    message: format!(
                        "anchored event {} is missing: the log ends at {} (it was cut back)",
                        anchor.seq, self.last_seq
                    ),
                };
                if cut.as_ref().is_none_or(|c| b.seq < c.seq) {
                    cut = Some(b);
                }
            } else if anchor.seq < first {
                match self
                    .checkpoints
                    .iter()
                    .find(|c| c.through_seq == anchor.seq)
                {
                    Some(cp) if cp.through_hash != anchor.hash => {
                        let b = Break {
                            seq: anchor.seq,
                            problem: Problem::AnchorMismatch,
                            message: format!(
                                "checkpoint {} records another hash for anchored event {}: the log was rewritten",
                                cp.seq, anchor.seq
                            ),
                        };
                        if cut.as_ref().is_none_or(|c| b.seq < c.seq) {
                            cut = Some(b);
                        }
                    }
                    Some(_) => *status = Some(AnchorStatus::Matched),
                    None => *status = Some(AnchorStatus::Pruned),
                }
            }
        }
        self.broken = cut;
    }
}

fn missing_message(from: i64, to: i64) -> String {
    if from >= to {
        format!("event {from} is missing")
    } else {
        format!("events {from} to {to} are missing")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::DateTime;
    use serde_json::json;

    /// A client.update event of `seq` (also the offline verifier's test fixture).
    pub(crate) fn ev(seq: i64) -> AuditEvent {
        AuditEvent {
            app_id: "a".repeat(26),
            seq,
            event_id: uuid::Uuid::from_u128(seq as u128),
            occurred_at: DateTime::from_timestamp_micros(1_700_000_000_000_000 + seq).unwrap(),
            actor: "operator".into(),
            actor_ip: None,
            request_id: "r".repeat(16),
            action: AuditAction::ClientUpdate,
            target_client_id: Some("c".repeat(32)),
            features_before: Some(vec![]),
            features_after: Some(vec!["owner".into()]),
            changes: json!({}),
            changes_text: None,
        }
    }

    /// A well-formed chain of `n` events: (event, prev_hash, hash).
    fn chain(n: i64) -> Vec<(AuditEvent, Vec<u8>, Vec<u8>)> {
        let mut prev = GENESIS_HASH.to_vec();
        (1..=n)
            .map(|seq| {
                let e = ev(seq);
                let h = e.chain_hash(&prev).to_vec();
                let row = (e, prev.clone(), h.clone());
                prev = h;
                row
            })
            .collect()
    }

    fn head_of(rows: &[(AuditEvent, Vec<u8>, Vec<u8>)]) -> ChainHead {
        rows.last().map_or(
            ChainHead {
                seq: 0,
                hash: GENESIS_HASH.to_vec(),
            },
            |(e, _, h)| ChainHead {
                seq: e.seq,
                hash: h.clone(),
            },
        )
    }

    fn verify_with(
        rows: &[(AuditEvent, Vec<u8>, Vec<u8>)],
        head: &ChainHead,
        checkpoints: Vec<Checkpoint>,
        anchors: Vec<Anchor>,
    ) -> Verdict {
        let mut v = ChainVerifier::new(checkpoints, anchors);
        for (e, p, h) in rows {
            if !v.push(e, p, h) {
                break;
            }
        }
        v.finish(Some(head))
    }

    fn verify(rows: &[(AuditEvent, Vec<u8>, Vec<u8>)], head: &ChainHead) -> Verdict {
        verify_with(rows, head, vec![], vec![])
    }

    fn broken_at(v: &Verdict) -> (i64, Problem) {
        match v {
            Verdict::Broken { at, .. } => (at.seq, at.problem),
            other => panic!("expected broken, got {other:?}"),
        }
    }

    #[test]
    fn an_intact_chain_reports_count_and_head() {
        let rows = chain(5);
        let head = head_of(&rows);
        match verify(&rows, &head) {
            Verdict::Intact {
                count,
                first_seq,
                head_seq,
                head_hash,
                ..
            } => {
                assert_eq!((count, first_seq, head_seq), (5, Some(1), 5));
                assert_eq!(head_hash, head.hash);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_log_is_intact() {
        let head = ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_vec(),
        };
        assert!(verify(&[], &head).is_intact());
        assert_eq!(
            verify(
                &[],
                &ChainHead {
                    seq: 2,
                    hash: vec![1; 32]
                }
            ),
            Verdict::Broken {
                at: Break {
                    seq: 1,
                    problem: Problem::Missing,
                    message:
                        "events 1 to 2 are missing (the chain head is at 2: the log was cut short)"
                            .into()
                },
                verified: 0
            }
        );
    }

    #[test]
    fn an_edited_event_is_found() {
        let mut rows = chain(5);
        let head = head_of(&rows);
        rows[2].0.features_after = Some(vec!["owner".into(), "direct_access".into()]);
        assert_eq!(broken_at(&verify(&rows, &head)), (3, Problem::Altered));
    }

    #[test]
    fn an_edited_event_with_a_recomputed_hash_breaks_the_next_link() {
        let mut rows = chain(5);
        let head = head_of(&rows);
        rows[2].0.actor = "someone else".into();
        rows[2].2 = rows[2].0.chain_hash(&rows[2].1).to_vec();
        assert_eq!(broken_at(&verify(&rows, &head)), (4, Problem::Unlinked));
    }

    #[test]
    fn a_deleted_event_is_missing() {
        let mut rows = chain(5);
        let head = head_of(&rows);
        rows.remove(1);
        assert_eq!(broken_at(&verify(&rows, &head)), (2, Problem::Missing));
        let mut rows = chain(5);
        rows.remove(0);
        assert_eq!(broken_at(&verify(&rows, &head)), (1, Problem::Missing));
    }

    #[test]
    fn a_cut_tail_is_missing_when_the_head_remembers_it() {
        let mut rows = chain(5);
        let head = head_of(&rows);
        rows.truncate(3);
        assert_eq!(broken_at(&verify(&rows, &head)), (4, Problem::Missing));
    }

    #[test]
    fn a_head_that_disagrees_is_reported() {
        let rows = chain(3);
        let mut head = head_of(&rows);
        head.hash = vec![7; 32];
        assert_eq!(broken_at(&verify(&rows, &head)), (3, Problem::HeadMismatch));
        let head = ChainHead {
            seq: 2,
            hash: rows[1].2.clone(),
        };
        assert_eq!(broken_at(&verify(&rows, &head)), (3, Problem::HeadMismatch));
        assert_eq!(
            broken_at(&ChainVerifier::new(vec![], vec![]).finish(None)),
            (1, Problem::HeadMismatch)
        );
    }

    #[test]
    fn swapped_events_are_found() {
        let mut rows = chain(5);
        let head = head_of(&rows);
        // An attacker swaps the seq numbers of events 2 and 3 (each row keeps its hashes).
        rows[1].0.seq = 3;
        rows[2].0.seq = 2;
        rows.swap(1, 2);
        assert_eq!(broken_at(&verify(&rows, &head)), (2, Problem::Unlinked));
    }

    #[test]
    fn a_pruned_prefix_verifies_from_its_checkpoint() {
        // Events 1..=3 pruned; event 6 is the checkpoint declaring hash(3).
        let mut rows = chain(5);
        let through_hash = rows[2].2.clone();
        let mut cp = ev(6);
        cp.action = AuditAction::AuditPrune;
        cp.changes =
            json!({"prunedThroughSeq": 3, "prunedThroughHash": hex::encode(&through_hash)});
        let h6 = cp.chain_hash(&rows[4].2).to_vec();
        rows.push((cp.clone(), rows[4].2.clone(), h6));
        let head = head_of(&rows);
        let stored: Vec<_> = rows[3..].to_vec();
        let checkpoints = vec![Checkpoint::from_event(&cp).unwrap()];
        match verify_with(&stored, &head, checkpoints.clone(), vec![]) {
            Verdict::Intact {
                count,
                first_seq,
                pruned_through,
                ..
            } => {
                assert_eq!((count, first_seq, pruned_through), (3, Some(4), Some(3)));
            }
            other => panic!("{other:?}"),
        }
        // Without the checkpoint the same log is missing its start.
        assert_eq!(broken_at(&verify(&stored, &head)), (1, Problem::Missing));
        // Deleting past the checkpoint's range is caught.
        assert_eq!(
            broken_at(&verify_with(&rows[4..], &head, checkpoints.clone(), vec![])),
            (4, Problem::Missing)
        );
        // A checkpoint that lies about the pruned hash does not vouch.
        let mut liar = checkpoints[0].clone();
        liar.through_hash = vec![9; 32];
        assert_eq!(
            broken_at(&verify_with(&stored, &head, vec![liar], vec![])),
            (4, Problem::Unlinked)
        );
        // With nothing pruned yet, the checkpoint must agree with the event it names.
        assert!(verify_with(&rows, &head, checkpoints.clone(), vec![]).is_intact());
    }

    #[test]
    fn checkpoints_come_only_from_well_formed_prune_events() {
        let mut cp = ev(10);
        cp.action = AuditAction::AuditPrune;
        cp.changes = json!({"prunedThroughSeq": 4, "prunedThroughHash": "ab".repeat(32)});
        assert_eq!(
            Checkpoint::from_event(&cp),
            Some(Checkpoint {
                seq: 10,
                through_seq: 4,
                through_hash: vec![0xab; 32]
            })
        );
        cp.changes = json!({"prunedThroughSeq": 10, "prunedThroughHash": "ab".repeat(32)});
        assert_eq!(
            Checkpoint::from_event(&cp),
            None,
            "not about itself or later events"
        );
        cp.changes = json!({"prunedThroughSeq": 4, "prunedThroughHash": "abc"});
        assert_eq!(Checkpoint::from_event(&cp), None);
        let mut other = ev(10);
        other.changes = json!({"prunedThroughSeq": 4, "prunedThroughHash": "ab".repeat(32)});
        assert_eq!(Checkpoint::from_event(&other), None);
    }

    #[test]
    fn anchors_catch_a_rewritten_or_cut_back_log() {
        let rows = chain(5);
        let head = head_of(&rows);
        let anchor = Anchor {
            seq: 3,
            hash: rows[2].2.clone(),
        };
        match verify_with(&rows, &head, vec![], vec![anchor.clone()]) {
            Verdict::Intact { anchors, .. } => {
                assert_eq!(anchors, vec![(anchor.clone(), AnchorStatus::Matched)])
            }
            other => panic!("{other:?}"),
        }
        // The whole chain rewritten from event 2 on (consistently re-hashed): only the anchor
        // notices.
        let mut prev = rows[0].2.clone();
        let mut rewritten = vec![rows[0].clone()];
        for (e, _, _) in &rows[1..] {
            let mut e = e.clone();
            e.actor = "forged".into();
            let h = e.chain_hash(&prev).to_vec();
            rewritten.push((e, prev.clone(), h.clone()));
            prev = h;
        }
        let forged_head = head_of(&rewritten);
        assert!(verify(&rewritten, &forged_head).is_intact());
        assert_eq!(
            broken_at(&verify_with(
                &rewritten,
                &forged_head,
                vec![],
                vec![anchor.clone()]
            )),
            (3, Problem::AnchorMismatch)
        );
        // Cut back to event 2 with the head rewound: the anchor at 3 is missing.
        let cut = &rows[..2];
        assert_eq!(
            broken_at(&verify_with(cut, &head_of(cut), vec![], vec![anchor])),
            (3, Problem::Missing)
        );
    }

    #[test]
    fn anchors_parse_from_seq_colon_hex() {
        let a: Anchor = format!("42:{}", "0f".repeat(32)).parse().unwrap();
        assert_eq!(
            a,
            Anchor {
                seq: 42,
                hash: vec![0x0f; 32]
            }
        );
        assert!("42".parse::<Anchor>().is_err());
        assert!("x:00".parse::<Anchor>().is_err());
        assert!(format!("0:{}", "0f".repeat(32)).parse::<Anchor>().is_err());
        assert!("4:abcd".parse::<Anchor>().is_err());
    }
}

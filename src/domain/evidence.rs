//! Offline verification (`latchkey audit verify --offline`): an export checked against a signed
//! checkpoint with nothing but the verifier key — no database, no server.
//!
//! * Whole export: every event's hash is recomputed from its content and chained from
//!   revision 1; the leaves `SHA-256(0x00 || hash)` of the first `size` events must give the
//!   checkpoint's root.
//! * One event: its hash is recomputed, and the inclusion proof must lead from its leaf to the
//!   checkpoint's root.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit::{write_canonical, GENESIS_HASH};
use super::merkle::{self, Hash};
use super::note::{self, Checkpoint, VerifierKey};

/// Why an offline verification failed. `revision` names the first bad event where one is to
/// blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OfflineFailure {
    pub revision: Option<u64>,
    pub message: String,
}

fn fail(revision: Option<u64>, message: impl Into<String>) -> OfflineFailure {
    OfflineFailure {
        revision,
        message: message.into(),
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub checkpoint: Checkpoint,
    pub key_id: String,
    /// Events checked.
    pub events: u64,
}

/// An exported event, its hashes checked against its content.
struct Record {
    seq: u64,
    prev_hash: Vec<u8>,
    hash: Hash,
}

/// Reads one exported event and recomputes its hash: `SHA-256(prev_hash || canonical(event
/// without prev_hash and hash))`. `line_no` names it in errors (1-based).
fn record(line: &str, line_no: u64) -> Result<Record, OfflineFailure> {
    let bad = |what: &str| fail(None, format!("line {line_no}: {what}"));
    let mut value: Value = serde_json::from_str(line).map_err(|_| bad("not a JSON event"))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| bad("not a JSON object"))?;
    let seq = object
        .get("seq")
        .and_then(Value::as_u64)
        .filter(|s| *s >= 1)
        .ok_or_else(|| bad("no seq"))?;
    let hex_member = |object: &mut serde_json::Map<String, Value>, name: &str| {
        object
            .remove(name)
            .and_then(|v| v.as_str().and_then(|s| hex::decode(s).ok()))
            .filter(|b| b.len() == 32)
    };
    let hash = hex_member(object, "hash").ok_or_else(|| bad("no 64-hex-digit hash"))?;
    let prev_hash =
        hex_member(object, "prev_hash").ok_or_else(|| bad("no 64-hex-digit prev_hash"))?;
    let mut canonical = String::with_capacity(line.len());
    write_canonical(&mut canonical, &value);
    let computed: Hash = Sha256::new()
        .chain_update(&prev_hash)
        .chain_update(canonical.as_bytes())
        .finalize()
        .into();
    if computed[..] != hash[..] {
        return Err(fail(
            Some(seq),
            format!("revision {seq} does not match its hash: its content was changed"),
        ));
    }
    Ok(Record {
        seq,
        prev_hash,
        hash: computed,
    })
}

/// Opens the checkpoint with the keys (one verifier key a line; blank lines and `#` comments
/// ignored).
pub fn open_checkpoint(
    checkpoint: &str,
    keys: &str,
) -> Result<(Checkpoint, String), OfflineFailure> {
    let keys: Vec<VerifierKey> = keys
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(VerifierKey::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| fail(None, format!("the key file: {e}")))?;
    if keys.is_empty() {
        return Err(fail(None, "the key file holds no key"));
    }
    let (cp, key) = note::open_checkpoint(checkpoint, &keys)
        .map_err(|e| fail(None, format!("the checkpoint: {e}")))?;
    Ok((cp, key.key_id()))
}

/// Checks a whole export (NDJSON, chain order, from revision 1) against a checkpoint. Events
/// after the checkpoint's size are chained too but are not in its tree.
pub fn verify_export(
    ndjson: &str,
    checkpoint: &str,
    keys: &str,
) -> Result<Verified, OfflineFailure> {
    let (cp, key_id) = open_checkpoint(checkpoint, keys)?;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut prev: Vec<u8> = GENESIS_HASH.to_vec();
    let mut expected = 1u64;
    for (i, line) in ndjson.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = record(line, i as u64 + 1)?;
        if r.seq != expected {
            return Err(fail(
                Some(expected),
                format!(
                    "revision {expected} is missing or out of place (found {} there)",
                    r.seq
                ),
            ));
        }
        if r.prev_hash != prev {
            return Err(fail(
                Some(r.seq),
                format!(
                    "revision {} does not link to the previous event (an event before it was replaced)",
                    r.seq
                ),
            ));
        }
        prev = r.hash.to_vec();
        leaves.push(merkle::leaf_hash(&r.hash));
        expected += 1;
    }
    let n = leaves.len() as u64;
    if n < cp.size {
        return Err(fail(
            Some(n + 1),
            format!(
                "the export ends at revision {n}; the checkpoint covers {} events",
                cp.size
            ),
        ));
    }
    let root = merkle::root_of(&leaves[..cp.size as usize]);
    if root != cp.root {
        return Err(fail(
            None,
            format!(
                "the first {} events do not give the checkpoint's root: the log was rewritten",
                cp.size
            ),
        ));
    }
    Ok(Verified {
        checkpoint: cp,
        key_id,
        events: n,
    })
}

/// Checks one exported event against a checkpoint with its inclusion proof (the JSON of
/// `…/audit/proof/inclusion`: `leaf_index`, `tree_size`, `hashes` in base64).
pub fn verify_event(
    event: &str,
    proof: &str,
    checkpoint: &str,
    keys: &str,
) -> Result<Verified, OfflineFailure> {
    use base64::Engine;
    let (cp, key_id) = open_checkpoint(checkpoint, keys)?;
    let line = event
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let r = record(line, 1)?;
    let proof: Value =
        serde_json::from_str(proof).map_err(|_| fail(None, "the proof is not JSON"))?;
    let number = |name: &str| {
        proof
            .get(name)
            .and_then(Value::as_u64)
            .ok_or_else(|| fail(None, format!("the proof has no {name}")))
    };
    let (leaf_index, tree_size) = (number("leaf_index")?, number("tree_size")?);
    let hashes = proof
        .get("hashes")
        .and_then(Value::as_array)
        .ok_or_else(|| fail(None, "the proof has no hashes"))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .and_then(|b| Hash::try_from(b).ok())
                .ok_or_else(|| fail(None, "a proof hash is not base64 of 32 bytes"))
        })
        .collect::<Result<Vec<Hash>, _>>()?;
    if leaf_index != r.seq - 1 {
        return Err(fail(
            Some(r.seq),
            format!(
                "the proof is for leaf {leaf_index}, the event is revision {}",
                r.seq
            ),
        ));
    }
    if tree_size != cp.size {
        return Err(fail(
            None,
            format!(
                "the proof is for a tree of {tree_size} events, the checkpoint of {}",
                cp.size
            ),
        ));
    }
    if !merkle::verify_inclusion(
        leaf_index,
        tree_size,
        &merkle::leaf_hash(&r.hash),
        &hashes,
        &cp.root,
    ) {
        return Err(fail(
            Some(r.seq),
            format!(
                "revision {} is not in the checkpoint's tree (the proof does not lead to its root)",
                r.seq
            ),
        ));
    }
    Ok(Verified {
        checkpoint: cp,
        key_id,
        events: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::AuditEvent;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    /// A client.update event, each with its own name change.
    fn ev(seq: i64) -> AuditEvent {
        AuditEvent {
            changes: json!({"name": {"from": "x", "to": format!("n{seq}")}}),
            ..crate::domain::audit_verify::tests::ev(seq)
        }
    }

    /// `n` chained events as export lines, and their chain hashes.
    fn export(n: i64) -> (Vec<String>, Vec<Hash>) {
        export_with(n, |_| {})
    }

    /// [`export`] with each event passed through `edit` before it is hashed.
    fn export_with(n: i64, edit: impl Fn(&mut AuditEvent)) -> (Vec<String>, Vec<Hash>) {
        let mut prev = GENESIS_HASH.to_vec();
        let (mut lines, mut hashes) = (Vec::new(), Vec::new());
        for seq in 1..=n {
            let mut e = ev(seq);
            edit(&mut e);
            let hash = e.chain_hash(&prev);
            let mut line = String::new();
            e.write_record(&mut line, &prev, &hash);
            lines.push(line);
            hashes.push(hash);
            prev = hash.to_vec();
        }
        (lines, hashes)
    }

    fn checkpoint(hashes: &[Hash], size: usize, key: &SigningKey) -> String {
        let leaves: Vec<Hash> = hashes[..size]
            .iter()
            .map(|h| merkle::leaf_hash(h))
            .collect();
        let body = Checkpoint {
            origin: "audit.example.test/audit/app".into(),
            size: size as u64,
            root: merkle::root_of(&leaves),
        }
        .body();
        note::sign(&body, "audit.example.test/audit", key)
    }

    /// The signing key every test signs with, its verifier key's text, `n` exported events and
    /// their hashes, and a checkpoint of the first `size`.
    fn signed_export(n: i64, size: usize) -> (SigningKey, String, Vec<String>, Vec<Hash>, String) {
        let key = SigningKey::from_bytes(&[5; 32]);
        let keys = key_text(&key);
        let (lines, hashes) = export(n);
        let cp = checkpoint(&hashes, size, &key);
        (key, keys, lines, hashes, cp)
    }

    fn key_text(key: &SigningKey) -> String {
        VerifierKey {
            name: "audit.example.test/audit".into(),
            public: key.verifying_key(),
        }
        .encode()
    }

    #[test]
    fn an_export_verifies_and_each_kind_of_tampering_is_caught() {
        let (_, keys, lines, hashes, cp) = signed_export(9, 7);
        let all = lines.join("\n");
        let ok = verify_export(&all, &cp, &keys).unwrap();
        assert_eq!((ok.checkpoint.size, ok.events), (7, 9));

        // An edited event.
        let mut edited = lines.clone();
        edited[3] = edited[3].replace("\"n4\"", "\"n4x\"");
        let e = verify_export(&edited.join("\n"), &cp, &keys).unwrap_err();
        assert_eq!(e.revision, Some(4), "{e}");
        // A removed event.
        let mut removed = lines.clone();
        removed.remove(2);
        assert_eq!(
            verify_export(&removed.join("\n"), &cp, &keys)
                .unwrap_err()
                .revision,
            Some(3)
        );
        // A reordered pair.
        let mut reordered = lines.clone();
        reordered.swap(4, 5);
        assert_eq!(
            verify_export(&reordered.join("\n"), &cp, &keys)
                .unwrap_err()
                .revision,
            Some(5)
        );
        // A checkpoint signed by another key (same name).
        let other = SigningKey::from_bytes(&[6; 32]);
        let forged = checkpoint(&hashes, 7, &other);
        let e = verify_export(&all, &forged, &keys).unwrap_err();
        assert!(e.message.contains("no signature by a known key"), "{e}");
        // A short export.
        assert_eq!(
            verify_export(&lines[..6].join("\n"), &cp, &keys)
                .unwrap_err()
                .revision,
            Some(7)
        );
        // A rewritten history, re-hashed consistently: the chain holds, the root does not.
        let (rewritten, _) = export_with(9, |e| {
            if e.seq == 2 {
                e.actor = "someone".into();
            }
        });
        let e = verify_export(&rewritten.join("\n"), &cp, &keys).unwrap_err();
        assert!(e.message.contains("rewritten"), "{e}");
    }

    #[test]
    fn one_event_verifies_with_its_inclusion_proof() {
        let (key, keys, lines, hashes, cp) = signed_export(6, 6);
        let leaves: Vec<Hash> = hashes.iter().map(|h| merkle::leaf_hash(h)).collect();
        let nodes = merkle::complete_nodes(&leaves);
        let proof_for = |m: u64| {
            let hashes: Vec<String> = merkle::inclusion_ranges(m, 6)
                .iter()
                .map(|&(a, b)| {
                    use base64::Engine;
                    let h = merkle::range_hash(a, b, &|id| nodes.get(&id).copied()).unwrap();
                    base64::engine::general_purpose::STANDARD.encode(h)
                })
                .collect();
            json!({"leaf_index": m, "tree_size": 6, "hashes": hashes}).to_string()
        };
        let ok = verify_event(&lines[2], &proof_for(2), &cp, &keys).unwrap();
        assert_eq!(ok.events, 1);
        // Another event's proof, an edited event, a proof for another size.
        assert!(verify_event(&lines[2], &proof_for(3), &cp, &keys).is_err());
        let edited = lines[2].replace("operator", "0perator");
        assert_eq!(
            verify_event(&edited, &proof_for(2), &cp, &keys)
                .unwrap_err()
                .revision,
            Some(3)
        );
        let cp5 = checkpoint(&hashes, 5, &key);
        assert!(verify_event(&lines[2], &proof_for(2), &cp5, &keys).is_err());
        assert!(verify_event(&lines[2], "{}", &cp, &keys).is_err());
    }
}

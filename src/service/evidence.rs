//! Audit evidence an auditor checks outside Latchkey: signed checkpoints of each application's
//! RFC 6962 Merkle tree, inclusion and consistency proofs, the verifier keys, the rotation of
//! the signing key, and legal holds (docs/audit.md, "Signed checkpoints and proofs").

use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sqlx::PgPool;
use zeroize::Zeroizing;

use super::apps::AppDirectory;
use super::audit::ensure_reader;
use super::clock::now_micros;
use super::{commit, commit_audited, Committed, Latchkey, RequestContext, ServiceError};
use crate::auth::sealing::{KeyRing, Sealed};
use crate::domain::audit::{format_time, AuditAction};
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::ids::{AppId, Named};
use crate::domain::merkle::{self, Hash, NodeId, ProofInputError};
use crate::domain::note::{self, Checkpoint, VerifierKey};
use crate::store::{self, evidence::CheckpointRow, evidence::SigningKeyRow, WriteTx};

/// Most checkpoints one listing returns.
pub const MAX_CHECKPOINTS: i64 = 1000;

/// An inclusion proof (RFC 6962 §2.1.1) of the leaf `leaf_index` (revision − 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub hashes: Vec<Hash>,
}

/// A consistency proof (RFC 6962 §2.1.2) between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub hashes: Vec<Hash>,
}

/// A verifier key of this server and when it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditKeyInfo {
    pub key: VerifierKey,
    pub valid_from: DateTime<Utc>,
    /// When it was retired (rotated out); `None` for the key signing now.
    pub valid_until: Option<DateTime<Utc>>,
}

fn tree_incomplete() -> ServiceError {
    ServiceError::AuditTreeIncomplete
}

fn key_info(row: &SigningKeyRow) -> Result<AuditKeyInfo, ServiceError> {
    let public: [u8; 32] =
        row.public_key.as_slice().try_into().map_err(|_| {
            ServiceError::Internal(format!("signing key {} is damaged", row.key_id))
        })?;
    let public = VerifyingKey::from_bytes(&public)
        .map_err(|_| ServiceError::Internal(format!("signing key {} is damaged", row.key_id)))?;
    Ok(AuditKeyInfo {
        key: VerifierKey {
            name: row.name.clone(),
            public,
        },
        valid_from: row.created_at,
        valid_until: row.retired_at,
    })
}

/// The audit evidence's use cases, reached as `service.evidence()`: proofs, signed checkpoints,
/// the signing key and legal holds. Apart from the audit log's (`AuditService`) because they
/// hold what the log's reads have no business with: the sealing key ring (the checkpoint
/// signing key is sealed) and the host naming the logs in checkpoints. They read the primary
/// only (the tree and the checkpoints a proof is checked against), so no replica.
#[derive(Clone)]
pub struct EvidenceService<'a> {
    pool: &'a PgPool,
    apps: &'a AppDirectory,
    sealer: Option<&'a KeyRing>,
    audit_host: &'a str,
}

impl Latchkey {
    /// The audit evidence area (proofs, checkpoints, signing keys, legal holds).
    pub fn evidence(&self) -> EvidenceService<'_> {
        EvidenceService {
            pool: &self.pool,
            apps: &self.directory,
            sealer: self.sealer.as_deref(),
            audit_host: &self.audit_host,
        }
    }
}

impl EvidenceService<'_> {
    /// `<host>/audit/<appId>`: the origin line of an application's checkpoints.
    pub fn origin(&self, app_id: &str) -> String {
        format!("{}/audit/{app_id}", self.audit_host)
    }

    /// The name of this server's checkpoint keys.
    fn key_name(&self) -> String {
        format!("{}/audit", self.audit_host)
    }

    /// Owners of the application, and the operator (as for the log itself).
    async fn reader(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<(), ServiceError> {
        ensure_reader(self.apps, ctx, app_id).await
    }

    async fn tree_size(&self, app_id: &str) -> Result<u64, ServiceError> {
        Ok(store::audit::head(self.pool, app_id)
            .await?
            .map_or(0, |(seq, _)| u64::try_from(seq).unwrap_or(0)))
    }

    /// The RFC hashes of leaf ranges, from the stored nodes (one query).
    async fn range_hashes(
        &self,
        app_id: &str,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<Hash>, ServiceError> {
        let mut ids: Vec<NodeId> = Vec::new();
        for &(a, b) in ranges {
            merkle::range_nodes(a, b, &mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        let nodes = store::evidence::nodes(self.pool, app_id, &ids).await?;
        let lookup = |id: NodeId| nodes.get(&id).copied();
        ranges
            .iter()
            .map(|&(a, b)| merkle::range_hash(a, b, &lookup).ok_or_else(tree_incomplete))
            .collect()
    }

    /// The inclusion proof of event `revision` (its `seq`) in the tree of `size` events
    /// (default: the whole log now).
    pub async fn inclusion_proof(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        revision: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, ServiceError> {
        self.reader(ctx, app_id).await?;
        let tree_size = self.tree_size(app_id.as_str()).await?;
        let size = size.unwrap_or(tree_size);
        merkle::check_inclusion(revision, size, tree_size)?;
        let leaf_index = revision - 1;
        let hashes = self
            .range_hashes(app_id.as_str(), &merkle::inclusion_ranges(leaf_index, size))
            .await?;
        Ok(InclusionProof {
            leaf_index,
            tree_size: size,
            hashes,
        })
    }

    /// The consistency proof between the trees of `from` and `to` events.
    pub async fn consistency_proof(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, ServiceError> {
        self.reader(ctx, app_id).await?;
        let tree_size = self.tree_size(app_id.as_str()).await?;
        merkle::check_consistency(from, to, tree_size)?;
        let hashes = self
            .range_hashes(app_id.as_str(), &merkle::consistency_ranges(from, to))
            .await?;
        Ok(ConsistencyProof { from, to, hashes })
    }

    /// The newest signed checkpoint of an application.
    pub async fn checkpoint(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<CheckpointRow, ServiceError> {
        self.reader(ctx, app_id).await?;
        store::evidence::latest_checkpoint(self.pool, app_id.as_str())
            .await?
            .ok_or(ServiceError::NoCheckpointYet)
    }

    /// Checkpoints made at or after `since` (all with `None`), oldest first, at most
    /// [`MAX_CHECKPOINTS`].
    pub async fn checkpoints(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<CheckpointRow>, ServiceError> {
        self.reader(ctx, app_id).await?;
        Ok(
            store::evidence::checkpoints_since(self.pool, app_id.as_str(), since, MAX_CHECKPOINTS)
                .await?,
        )
    }

    /// Every key that signed or signs checkpoints, oldest first (public: no secret in them).
    pub async fn keys(&self) -> Result<Vec<AuditKeyInfo>, ServiceError> {
        store::evidence::signing_keys(self.pool)
            .await?
            .iter()
            .map(key_info)
            .collect()
    }

    /// A fresh key pair, its private half sealed.
    fn new_signing_key(&self, now: DateTime<Utc>) -> Result<SigningKeyRow, ServiceError> {
        let ring = self.sealer.ok_or(ServiceError::CheckpointKeyMissing)?;
        let seed = Zeroizing::new(rand::random::<[u8; 32]>());
        let key = SigningKey::from_bytes(&seed);
        let verifier = VerifierKey {
            name: self.key_name(),
            public: key.verifying_key(),
        };
        let key_id = verifier.key_id();
        let sealed = ring
            .seal_server_key(&key_id, seed.as_slice())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(SigningKeyRow {
            key_id,
            name: verifier.name,
            public_key: verifier.public.as_bytes().to_vec(),
            sealed_private: sealed.blob,
            sealing_key_id: sealed.key_id,
            created_at: now,
            retired_at: None,
        })
    }

    /// The key signing now, created on first use (one per server, whichever instance is first).
    async fn signer(&self) -> Result<(SigningKeyRow, SigningKey), ServiceError> {
        let row = match store::evidence::current_signing_key(self.pool).await? {
            Some(row) => row,
            None => {
                let mut tx = self.pool.begin().await?;
                store::evidence::lock_signing_keys(&mut tx).await?;
                let row = match store::evidence::current_signing_key(&mut *tx).await? {
                    Some(row) => row,
                    None => {
                        let row = self.new_signing_key(now_micros())?;
                        store::evidence::insert_signing_key(&mut tx, &row).await?;
                        row
                    }
                };
                tx.commit().await?;
                row
            }
        };
        let key = self.open_signing_key(&row)?;
        Ok((row, key))
    }

    fn open_signing_key(&self, row: &SigningKeyRow) -> Result<SigningKey, ServiceError> {
        let ring = self.sealer.ok_or(ServiceError::CheckpointKeyMissing)?;
        let seed = ring
            .open_server_key(
                &row.key_id,
                &Sealed {
                    key_id: row.sealing_key_id.clone(),
                    blob: row.sealed_private.clone(),
                },
            )
            .map_err(|e| {
                tracing::error!(error = %e, key_id = row.key_id, "cannot open the checkpoint key");
                ServiceError::CheckpointKeyMissing
            })?;
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| ServiceError::Internal("checkpoint key damaged".into()))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// Signs and stores a checkpoint for every application whose log grew since its last one.
    /// Safe on several instances at once: a checkpoint of a size that exists is not stored
    /// twice. Returns how many were stored. What the checkpoint task runs.
    pub async fn make_checkpoints(&self) -> Result<usize, ServiceError> {
        let due = store::evidence::apps_needing_checkpoint(self.pool).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let (key_row, key) = self.signer().await?;
        let name = key_row.name.clone();
        let mut made = 0;
        for (app_id, seq) in due {
            let size = u64::try_from(seq).unwrap_or(0);
            let root = match self.range_hashes(&app_id, &[(0, size)]).await {
                Ok(hashes) => hashes.first().copied(),
                Err(ServiceError::AuditTreeIncomplete) => None,
                Err(e) => return Err(e),
            };
            let Some(root) = root else {
                tracing::debug!(app_id, "no checkpoint: the tree is incomplete");
                continue;
            };
            let body = Checkpoint {
                origin: self.origin(&app_id),
                size,
                root,
            }
            .body();
            let row = CheckpointRow {
                app_id,
                tree_size: seq,
                root_hash: root.to_vec(),
                note: note::sign(&body, &name, &key),
                key_id: key_row.key_id.clone(),
                created_at: now_micros(),
            };
            if store::evidence::insert_checkpoint(self.pool, &row).await? {
                made += 1;
            }
        }
        Ok(made)
    }

    /// Retires the signing key and starts a new one (operator only). Older checkpoints stay
    /// verifiable with the retired key (listed at `GET /audit/keys`). Written to every
    /// application's log as `audit.key_rotate`.
    pub async fn rotate_key(
        &self,
        ctx: &RequestContext,
    ) -> Result<Committed<AuditKeyInfo>, ServiceError> {
        ctx.operator()?;
        let now = now_micros();
        let row = self.new_signing_key(now)?;
        let info = key_info(&row)?;
        let encoded = info.key.encode();
        let apps = store::apps::list(self.pool).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        store::evidence::lock_signing_keys(&mut tx).await?;
        let retired = store::evidence::retire_current_key(&mut tx, now).await?;
        store::evidence::insert_signing_key(&mut tx, &row).await?;
        let rotated = changes_of::KeyRotated {
            from_key_id: retired.as_deref(),
            to_key_id: &row.key_id,
            verifier_key: &encoded,
        };
        for app in &apps {
            let mut event = ctx.audit_event(&app.app_id, AuditAction::AuditKeyRotate);
            event.changes = (&rotated).into_changes();
            store::audit::append(&mut tx, event).await?;
        }
        commit(tx, info).await
    }

    /// The legal hold of an application, if any (owners and the operator).
    pub async fn hold(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<Option<DateTime<Utc>>, ServiceError> {
        self.reader(ctx, app_id).await?;
        Ok(store::evidence::hold(self.pool, app_id.as_str()).await?)
    }

    /// Puts an application's audit log under legal hold until `until`: prune refuses to remove
    /// anything before then. A past time ends the hold. Operator only; audited as
    /// `audit.hold_set`.
    pub async fn set_hold(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        until: DateTime<Utc>,
    ) -> Result<Committed<Option<DateTime<Utc>>>, ServiceError> {
        ctx.operator()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let before = store::evidence::set_hold(&mut tx, app_id.as_str(), until).await?;
        if before == Some(until) {
            return Ok(Committed::unchanged(before));
        }
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::AuditHoldSet);
        event.changes = changes_of::HoldChanged {
            until: changes_of::FromTo {
                from: before.as_ref().map(format_time),
                to: Some(format_time(&until)),
            },
        }
        .into_changes();
        commit_audited(tx, event, before).await
    }
}

impl From<ProofInputError> for ServiceError {
    fn from(e: ProofInputError) -> Self {
        ServiceError::ProofInput(e)
    }
}

/// The checkpoint task: every `every`, one round of [`EvidenceService::make_checkpoints`]. Runs as
/// long as the server.
pub async fn run_checkpoints(service: Latchkey, every: std::time::Duration) {
    // The first round one interval after start, not at once: "within LATCHKEY_CHECKPOINT_SECS of
    // the first event" holds either way, and a round racing the first requests of a server that
    // just started made "no checkpoint yet" untestable (seen as a flaky test).
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match service.evidence().make_checkpoints().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(checkpoints = n, "signed audit checkpoints"),
            Err(ServiceError::CheckpointKeyMissing) => {
                tracing::warn!("no sealing key: audit checkpoints are not signed");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "audit checkpoints failed; retrying"),
        }
    }
}

//! Secrets that are also kept sealed: minting (the one place a new secret is stored), sealing
//! older secrets on their next use, the per-application options, showing secrets to owners
//! (`show_secrets`) and re-sealing under a new key (`latchkey keys rotate`).

use std::collections::HashMap;

use sqlx::PgConnection;
use zeroize::Zeroizing;

use super::snapshots::FoundClient;
use super::{
    commit, commit_audited, AppSummary, AppsService, Caller, Committed, Latchkey, RequestContext,
    ServiceError,
};
use crate::auth::sealing::{Binding, KeyRing, Sealed, SealingError};
use crate::auth::SecretHasher;
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::ids::{AppId, Named};
use crate::domain::Feature;
use crate::store::secrets::{SealedAt, SealedStore, SealedValue};
use crate::store::{self, WriteTx};

/// A secret about to be stored: the clear value (shown once to the caller) and its Argon2id
/// hash. Hashing is slow, so it is made before the transaction that stores it.
pub struct NewSecret {
    pub secret: String,
    pub phc: String,
}

/// The options of an application that `PATCH /apps/{appId}` and `latchkey apps set` change;
/// `None` keeps one as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppOptions {
    pub signed_requests: Option<bool>,
    pub show_secrets: Option<bool>,
}

/// Secrets opened for an owner of a `show_secrets` application, by client id. No `Debug` of
/// the values.
#[derive(Default)]
pub struct ShownSecrets(HashMap<String, Zeroizing<String>>);

impl ShownSecrets {
    pub fn get(&self, client_id: &str) -> Option<String> {
        self.0.get(client_id).map(|s| s.as_str().to_owned())
    }
}

impl std::fmt::Debug for ShownSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// What `latchkey keys rotate` did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ResealReport {
    /// The id of the key everything is sealed with now.
    pub current_key_id: String,
    /// Values re-sealed, in all.
    pub resealed: u64,
    /// Values re-sealed per sealed store (its table), every store named.
    pub stores: std::collections::BTreeMap<&'static str, u64>,
    /// Sealed values no configured key opens, left as they are: a client secret as
    /// `app_id/client_id`, the others named by what they are.
    pub unopenable: Vec<String>,
}

/// The scope sink secrets are sealed under (the sealing AAD's "application"; application ids
/// are 26 characters, so it names no application).
pub(crate) const SINK_SEAL_SCOPE: &str = "sinks";

/// The name an OAuth signing key is sealed under, within its application.
pub(crate) fn oauth_key_sealing_name(kid: &str) -> String {
    format!("oauth-signing-key:{kid}")
}

/// Where a sealed value lives → what it is sealed for: the one mapping `keys rotate` uses, and
/// the same names the services seal with ([`SINK_SEAL_SCOPE`], [`oauth_key_sealing_name`], the
/// checkpoint key's id, the client).
fn reseal_value(ring: &KeyRing, value: &SealedValue) -> Result<Sealed, SealingError> {
    match &value.at {
        SealedAt::ClientSecret {
            app_id, client_id, ..
        } => ring.reseal(Binding::Client { app_id, client_id }, &value.sealed),
        SealedAt::OAuthSigningKey { app_id, kid } => {
            let name = oauth_key_sealing_name(kid);
            let binding = Binding::Client {
                app_id,
                client_id: &name,
            };
            ring.reseal(binding, &value.sealed)
        }
        SealedAt::AuditSigningKey { key_id } => {
            ring.reseal(Binding::ServerKey { purpose: key_id }, &value.sealed)
        }
        SealedAt::SinkSecret { name } => {
            let binding = Binding::Client {
                app_id: SINK_SEAL_SCOPE,
                client_id: name,
            };
            ring.reseal(binding, &value.sealed)
        }
    }
}

/// How `keys rotate` names a value it could not open.
fn describe(at: &SealedAt) -> String {
    match at {
        SealedAt::ClientSecret {
            app_id, client_id, ..
        } => format!("{app_id}/{client_id}"),
        SealedAt::OAuthSigningKey { app_id, kid } => {
            format!("OAuth signing key {kid} of {app_id}")
        }
        SealedAt::AuditSigningKey { key_id } => format!("audit signing key {key_id}"),
        SealedAt::SinkSecret { name } => format!("secret of sink {name}"),
    }
}

fn sealing_failed(e: SealingError) -> ServiceError {
    tracing::error!(error = %e, "sealing failed");
    ServiceError::Internal(e.to_string())
}

/// The sealing key ring, or `SealingKeyUnavailable` for a use that needs it on a server
/// without one.
fn ring_of(sealer: Option<&KeyRing>) -> Result<&KeyRing, ServiceError> {
    sealer.ok_or(ServiceError::SealingKeyUnavailable)
}

/// Minting, hashing and storing a client's new secret: the one rule every way of making one
/// follows (client creation and rotation, `ClientsService`; fixtures and pinned secrets, the
/// staging toolkit). It borrows the secret hasher and the sealing key ring from `Latchkey`
/// (`Latchkey::secret_mint`), which keeps them for authentication and the other sealed values
/// too.
#[derive(Clone, Copy)]
pub(crate) struct SecretMint<'a> {
    hasher: &'a SecretHasher,
    sealer: Option<&'a KeyRing>,
}

impl Latchkey {
    /// What makes and stores a client's new secret (see [`SecretMint`]).
    pub(crate) fn secret_mint(&self) -> SecretMint<'_> {
        SecretMint {
            hasher: &self.hasher,
            sealer: self.sealer.as_deref(),
        }
    }

    fn ring(&self) -> Result<&KeyRing, ServiceError> {
        ring_of(self.sealer.as_deref())
    }
}

impl SecretMint<'_> {
    /// A new random secret and its hash.
    pub(crate) async fn mint(&self) -> Result<NewSecret, ServiceError> {
        self.hash(crate::auth::random::new_secret()).await
    }

    /// The hash of a given secret (fixtures and imports bring their own).
    pub(crate) async fn hash(&self, secret: String) -> Result<NewSecret, ServiceError> {
        let phc = self.hasher.hash(secret.clone()).await?;
        Ok(NewSecret { secret, phc })
    }

    /// THE function that stores a new secret of a client: every way of minting one (client
    /// creation, rotation, fixtures) goes through here, so the application's sealing policy is
    /// applied in one place. The sealed copy is made when the application has signed requests
    /// or show_secrets; without a sealing key that is refused.
    pub(crate) async fn store(
        &self,
        tx: &mut PgConnection,
        app_id: &str,
        client_id: &str,
        new: &NewSecret,
    ) -> Result<(), ServiceError> {
        let sealed = if store::apps::sealing_policy(&mut *tx, app_id).await? {
            Some(
                ring_of(self.sealer)?
                    .seal(app_id, client_id, &new.secret)
                    .map_err(sealing_failed)?,
            )
        } else {
            None
        };
        store::secrets::insert(&mut *tx, app_id, client_id, &new.phc, sealed.as_ref()).await?;
        Ok(())
    }
}

impl Latchkey {
    /// After a successful Basic or parameter authentication: a secret minted before its
    /// application opted in gets its sealed copy now. Best effort (the request goes on).
    pub(crate) async fn seal_on_use(&self, found: &FoundClient, phc: &str, secret: &str) {
        if !found.sealing() || !found.unsealed_phcs().iter().any(|p| p == phc) {
            return;
        }
        let Some(ring) = self.sealer.as_deref() else {
            return;
        };
        let (app_id, client_id) = (&found.client().app_id, &found.client().client_id);
        let result = match ring.seal(app_id, client_id, secret) {
            Ok(sealed) => {
                store::secrets::seal_existing(&self.pool, app_id, client_id, phc, &sealed)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        // This instance's snapshot of the client still lists the secret as unsealed (sealing
        // writes no audit event, so no notification): drop it. Other instances may seal it
        // again on their next use, which the `sealed IS NULL` guard makes a no-op.
        self.snapshots.forget_client(app_id, client_id);
        match result {
            Ok(true) => tracing::info!(app_id, client_id, "sealed a secret on its use"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not seal a secret on its use"),
        }
    }

    /// The secrets an owner sees in reads of a `show_secrets` application (Config API GET/PUT,
    /// Registration `clients/list`): the newest live secret of each listed client, when it is
    /// sealed. Each one shown is written to the audit log as `client.secret_read`, in one
    /// transaction before anything is returned. Empty for other applications and callers.
    /// Not on [`AppsService`]: its first check reads this instance's snapshot of a client
    /// (`Latchkey::app_seals_secrets`, with the access decision's reads in `snapshots.rs`).
    pub async fn shown_secrets(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_ids: &[String],
    ) -> Result<Committed<ShownSecrets>, ServiceError> {
        if client_ids.is_empty() || !ctx.caller.has(Feature::Owner) {
            return Ok(Committed::unchanged(ShownSecrets::default()));
        }
        // An application that keeps no sealed copies cannot show secrets: the snapshot says so
        // without a database round trip (the hot path of a client GET).
        let caller = match &ctx.caller {
            Caller::Client { client_id, .. } => Some(client_id.as_str()),
            Caller::Operator => None,
        };
        let known = caller
            .into_iter()
            .chain(client_ids.iter().map(String::as_str));
        if self.app_seals_secrets(app_id.as_str(), known) == Some(false) {
            return Ok(Committed::unchanged(ShownSecrets::default()));
        }
        // One primary-key read for applications without the option; a transaction only for
        // those that show secrets (the reads and their audit events commit together).
        let show = store::apps::get(&self.pool, app_id.as_str())
            .await?
            .is_some_and(|a| a.show_secrets);
        if !show {
            return Ok(Committed::unchanged(ShownSecrets::default()));
        }
        let ring = self.ring()?;
        let mut tx = WriteTx::begin(&self.pool).await?;
        let mut shown = HashMap::new();
        for row in store::secrets::newest_sealed(&mut *tx, app_id.as_str(), client_ids).await? {
            let sealed = Sealed {
                key_id: row.sealing_key_id,
                blob: row.sealed,
            };
            match ring.open(&row.app_id, &row.client_id, &sealed) {
                Ok(secret) => {
                    let mut event = ctx.audit_event(app_id.as_str(), AuditAction::ClientSecretRead);
                    event.target_client_id = Some(row.client_id.clone());
                    store::audit::append(&mut tx, event).await?;
                    shown.insert(row.client_id, secret);
                }
                Err(e) => {
                    tracing::warn!(error = %e, client_id = row.client_id, "cannot open a sealed secret")
                }
            }
        }
        commit(tx, ShownSecrets(shown)).await
    }

    /// At start: an application keeps sealed secrets but this server has no key to open them.
    pub async fn check_sealing_ready(&self) -> Result<(), ServiceError> {
        if self.sealer.is_none() && store::apps::any_sealing(&self.pool).await? {
            return Err(ServiceError::SealingKeyMissing);
        }
        Ok(())
    }
}

/// The application options and re-sealing, on the applications area (see [`AppsService`]).
impl AppsService<'_> {
    /// Operator only: switches signed requests and show_secrets on or off for an application.
    /// Switching one on needs the sealing key; secrets minted before are sealed on their next
    /// use. Switching both off drops every sealed copy. Audited as `app.update`.
    pub async fn set_options(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        options: AppOptions,
    ) -> Result<Committed<AppSummary>, ServiceError> {
        ctx.operator()?;
        if (options.signed_requests == Some(true) || options.show_secrets == Some(true))
            && self.sealer.is_none()
        {
            return Err(ServiceError::SealingKeyMissing);
        }
        let mut tx = WriteTx::begin(self.pool).await?;
        let before = store::apps::get(&mut *tx, app_id.as_str())
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        let after = store::apps::set_options(
            &mut *tx,
            app_id.as_str(),
            options.signed_requests,
            options.show_secrets,
        )
        .await?
        .ok_or(ServiceError::AppNotFound)?;
        let Some(mut changes) = changes_of::AppOptionsChanged::of(
            (before.signed_requests, before.show_secrets),
            (after.signed_requests, after.show_secrets),
        ) else {
            return Ok(Committed::unchanged(after.into()));
        };
        if !after.signed_requests && !after.show_secrets {
            let dropped = store::secrets::drop_sealed(&mut *tx, app_id.as_str()).await?;
            changes.sealed_secrets_dropped = Some(dropped);
        }
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::AppUpdate);
        event.changes = changes.into_changes();
        commit_audited(tx, event, after.into()).await
    }

    /// Operator only (`latchkey keys rotate`): re-seals under the current key every value of
    /// every sealed store ([`SealedStore::ALL`]) that an older key of the ring sealed. A server
    /// that already opened one (an OAuth key set, say) keeps using it: the value is the same.
    pub async fn reseal_secrets(&self, ctx: &RequestContext) -> Result<ResealReport, ServiceError> {
        ctx.operator()?;
        let ring = self.sealer.ok_or(ServiceError::SealingKeyMissing)?;
        let mut report = ResealReport {
            current_key_id: ring.current_id().to_owned(),
            ..Default::default()
        };
        for sealed_store in SealedStore::ALL {
            let mut resealed = 0;
            let mut after: Option<SealedAt> = None;
            loop {
                let batch = store::secrets::sealed_with_other_keys(
                    self.pool,
                    sealed_store,
                    ring.current_id(),
                    after.as_ref(),
                    500,
                )
                .await?;
                let Some(last) = batch.last() else {
                    break;
                };
                after = Some(last.at.clone());
                for value in &batch {
                    match reseal_value(ring, value) {
                        Ok(sealed) => {
                            if store::secrets::reseal(self.pool, value, &sealed).await? {
                                resealed += 1;
                            }
                        }
                        Err(SealingError::UnknownKey { .. } | SealingError::Damaged) => {
                            report.unopenable.push(describe(&value.at));
                        }
                        Err(e) => return Err(sealing_failed(e)),
                    }
                }
            }
            report.resealed += resealed;
            report.stores.insert(sealed_store.table(), resealed);
        }
        Ok(report)
    }
}

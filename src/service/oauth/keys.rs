//! An application's signing keys: made on first use, sealed at rest, opened once per instance
//! and cached until the application's revision moves (a rotation is an audited write, so its
//! notification reaches every instance), rotated by the operator.
//!
//! Rotation (docs/oauth.md): the next key is published at once and signs only from
//! `now + jwks_max_age`, when every cached copy of the JWKS has expired; each older key stays
//! published until the last token it can have signed has expired.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::{OAuth, OAuthError};
use crate::auth::jose::{self, Signer};
use crate::auth::random::random_token;
use crate::auth::sealing::Sealed;
use crate::domain::audit_action::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::ids::{AppId, Named};
use crate::domain::oauth::{retirement, token_lifetime, SigningAlg};
use crate::service::sealing::oauth_key_sealing_name;
use crate::service::{commit, commit_audited, Committed, RequestContext, ServiceError};
use crate::store::{self, oauth::KeyRow, oauth::SettingsRow, WriteTx};

/// An application's OAuth settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthSettings {
    /// The algorithm of the keys made from now on (a rotation switches).
    pub signing_alg: SigningAlg,
    pub token_lifetime_secs: i64,
}

impl OAuthSettings {
    fn from_row(row: &SettingsRow) -> Self {
        Self {
            signing_alg: row.signing_alg.parse().unwrap_or_default(),
            token_lifetime_secs: i64::from(row.token_lifetime_secs),
        }
    }
}

/// One published key, as the console and the operator see it (no private material).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: DateTime<Utc>,
    pub signs_from: DateTime<Utc>,
    pub retires_at: Option<DateTime<Utc>>,
    /// Signing now (the newest key whose `signs_from` has passed).
    pub signing: bool,
}

/// An application's OAuth state for the console.
#[derive(Debug, Clone)]
pub struct Overview {
    pub issuer: String,
    pub settings: OAuthSettings,
    pub keys: Vec<KeyInfo>,
    /// Each client with registered keys and its key set, by client id.
    pub clients: Vec<(String, serde_json::Value)>,
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct RotationReport {
    pub settings: OAuthSettings,
    pub new_key: KeyInfo,
    /// The keys on their way out and when they leave the JWKS.
    pub retiring: Vec<KeyInfo>,
}

/// A published key, opened.
pub(super) struct OpenKey {
    pub info: KeyInfo,
    pub jwk: Jwk,
    pub signer: Signer,
}

/// An application's opened key set.
pub(super) struct KeySet {
    pub settings: OAuthSettings,
    /// Oldest first.
    pub keys: Vec<OpenKey>,
}

impl KeySet {
    /// The key that signs at `now`: the newest whose `signs_from` has passed.
    pub fn signing(&self, now: DateTime<Utc>) -> Option<&OpenKey> {
        self.keys
            .iter()
            .filter(|k| k.info.signs_from <= now)
            .max_by_key(|k| k.info.signs_from)
            .or_else(|| self.keys.first())
    }

    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    pub fn infos(&self, now: DateTime<Utc>) -> Vec<KeyInfo> {
        let signing = self.signing(now).map(|k| k.info.kid.clone());
        self.keys
            .iter()
            .map(|k| KeyInfo {
                signing: Some(&k.info.kid) == signing.as_ref(),
                ..k.info.clone()
            })
            .collect()
    }
}

/// A key set in the instance cache, with what it is valid for.
pub(super) struct Cached {
    /// The application's latest revision known when the load started.
    revision: i64,
    loaded: Instant,
    pub set: Arc<KeySet>,
}

impl OAuth {
    /// The application's key set, made on first use. Cached per instance while the snapshots
    /// are trusted and the application's revision has not moved (at most 60 s).
    pub(super) async fn key_set(&self, app_id: &str) -> Result<Arc<KeySet>, OAuthError> {
        if !crate::domain::is_storable_text(app_id) {
            return Err(OAuthError::AppNotFound);
        }
        let snapshots = self.core.snapshots();
        let trusted = snapshots.trusted();
        if trusted {
            if let Some(c) = self.keysets.get(app_id) {
                if c.revision >= snapshots.latest(app_id) && c.loaded.elapsed().as_secs() < 60 {
                    return Ok(c.set.clone());
                }
            }
        }
        let revision = snapshots.latest(app_id);
        let set = Arc::new(self.load_key_set(app_id).await?);
        if trusted {
            self.keysets.insert(
                app_id.to_owned(),
                Arc::new(Cached {
                    revision,
                    loaded: Instant::now(),
                    set: set.clone(),
                }),
            );
        }
        Ok(set)
    }

    async fn load_key_set(&self, app_id: &str) -> Result<KeySet, OAuthError> {
        let loaded = store::oauth::key_set(&self.core.pool, app_id).await?;
        let (settings, rows) = match loaded {
            Some((settings, rows)) if !rows.is_empty() => (settings, rows),
            _ => {
                self.first_key(app_id).await?;
                store::oauth::key_set(&self.core.pool, app_id)
                    .await?
                    .ok_or(OAuthError::AppNotFound)?
            }
        };
        let ring = self
            .core
            .sealer
            .as_deref()
            .ok_or(OAuthError::NoSealingKey)?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let alg: SigningAlg = row.alg.parse().map_err(|_| OAuthError::Internal)?;
            let sealed = Sealed {
                key_id: row.sealing_key_id.clone(),
                blob: row.sealed.clone(),
            };
            let private = match ring.open(app_id, &oauth_key_sealing_name(&row.kid), &sealed) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, app_id, kid = row.kid, "cannot open a signing key");
                    continue;
                }
            };
            let jwk: Jwk =
                serde_json::from_value(row.public_jwk.clone()).map_err(|_| OAuthError::Internal)?;
            keys.push(OpenKey {
                info: info_of(&row, alg),
                jwk,
                signer: Signer::load(&row.kid, alg, &private)?,
            });
        }
        if keys.is_empty() {
            return Err(OAuthError::Internal);
        }
        Ok(KeySet {
            settings: OAuthSettings::from_row(&settings),
            keys,
        })
    }

    /// Makes the application's first key (another instance may be doing the same: the settings
    /// row lock makes one of them wait and then find the key). Audited as `oauth.key_create`.
    async fn first_key(&self, app_id: &str) -> Result<(), OAuthError> {
        let mut tx = WriteTx::begin(&self.core.pool).await?;
        let settings = store::oauth::lock_settings(&mut tx, app_id)
            .await?
            .ok_or(OAuthError::AppNotFound)?;
        let existing = store::oauth::key_set(&mut *tx, app_id).await?;
        if existing.is_some_and(|(_, keys)| !keys.is_empty()) {
            return Ok(());
        }
        let settings = OAuthSettings::from_row(&settings);
        let key = self.make_key(app_id, settings.signing_alg, Utc::now())?;
        store::oauth::insert_key(&mut tx, app_id, &key).await?;
        let ctx = RequestContext::command_line();
        let mut event = ctx.audit_event(app_id, AuditAction::OAuthKeyCreate);
        event.actor = "latchkey".into();
        event.changes = changes_of::OAuthKeyMade::on_first_use(&key.kid, &key.alg).into_changes();
        store::audit::append(&mut tx, event).await?;
        // Made on the way of a read: its revision reaches this instance's snapshots here (the
        // others' through the notification).
        let revisions = tx.commit().await?;
        self.core.apply_revisions(&revisions);
        Ok(())
    }

    /// A new sealed key that signs from `signs_from`.
    fn make_key(
        &self,
        app_id: &str,
        alg: SigningAlg,
        signs_from: DateTime<Utc>,
    ) -> Result<KeyRow, OAuthError> {
        let ring = self
            .core
            .sealer
            .as_deref()
            .ok_or(OAuthError::NoSealingKey)?;
        let kid = random_token(16);
        let (private, jwk) = jose::generate(alg, &kid)?;
        let sealed = ring
            .seal(app_id, &oauth_key_sealing_name(&kid), &private)
            .map_err(|e| {
                tracing::error!(error = %e, "sealing a signing key failed");
                OAuthError::Internal
            })?;
        Ok(KeyRow {
            kid,
            alg: alg.as_str().to_owned(),
            public_jwk: serde_json::to_value(&jwk).map_err(|_| OAuthError::Internal)?,
            sealed: sealed.blob,
            sealing_key_id: sealed.key_id,
            created_at: Utc::now(),
            signs_from,
            retires_at: None,
        })
    }

    /// The application's public keys (the JWKS).
    pub async fn jwks(&self, app_id: &Named<AppId>) -> Result<JwkSet, OAuthError> {
        Ok(self.key_set(app_id.as_str()).await?.jwks())
    }

    /// The application's settings and published keys (`GET /apps/{appId}/oauth`), for the
    /// operator and the application's owners.
    pub async fn keys(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<(OAuthSettings, Vec<KeyInfo>), ServiceError> {
        ctx.owner()?;
        let set = self.key_set(app_id.as_str()).await?;
        Ok((set.settings, set.infos(Utc::now())))
    }

    /// What the console's OAuth page shows an owner or the operator: the settings, the signing
    /// keys and every client's registered public keys (`(client id, {"keys": [...]})`).
    pub async fn overview(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<Overview, ServiceError> {
        let (settings, keys) = self.keys(ctx, app_id).await?;
        let clients = store::oauth::all_client_jwks(&self.core.pool, app_id.as_str()).await?;
        Ok(Overview {
            issuer: self.issuer(app_id.as_str()),
            settings,
            keys,
            clients,
        })
    }

    /// Operator only (`latchkey oauth keys rotate`, `POST /apps/{appId}/oauth/rotate`):
    /// publishes a new key now, which signs from `now + jwks_max_age`; the keys signing until
    /// then leave the JWKS when their last token has expired. Audited as `oauth.key_rotate`.
    pub async fn rotate_keys(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<Committed<RotationReport>, ServiceError> {
        ctx.operator()?;
        let mut tx = WriteTx::begin(&self.core.pool).await?;
        let settings = store::oauth::lock_settings(&mut tx, app_id.as_str())
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        let settings = OAuthSettings::from_row(&settings);
        let (_, rows) = store::oauth::key_set(&mut *tx, app_id.as_str())
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        let now = Utc::now();
        // No key yet: the first one signs at once (nobody can have cached an older set).
        let max_age = if rows.is_empty() {
            chrono::Duration::zero()
        } else {
            chrono::Duration::from_std(self.config.jwks_max_age)
                .unwrap_or_else(|_| chrono::Duration::seconds(300))
        };
        let key = self.make_key(app_id.as_str(), settings.signing_alg, now + max_age)?;
        let retires_at = DateTime::from_timestamp(
            retirement(key.signs_from.timestamp(), settings.token_lifetime_secs),
            0,
        )
        .unwrap_or(key.signs_from);
        let mut retiring = Vec::new();
        for row in rows.iter().filter(|r| r.retires_at.is_none()) {
            store::oauth::retire_key(&mut tx, app_id.as_str(), &row.kid, retires_at).await?;
            let alg = row.alg.parse().unwrap_or_default();
            retiring.push(KeyInfo {
                retires_at: Some(retires_at),
                ..info_of(row, alg)
            });
        }
        store::oauth::insert_key(&mut tx, app_id.as_str(), &key).await?;
        let action = if rows.is_empty() {
            AuditAction::OAuthKeyCreate
        } else {
            AuditAction::OAuthKeyRotate
        };
        let mut event = ctx.audit_event(app_id.as_str(), action);
        event.changes = changes_of::OAuthKeyMade::by_rotation(
            &key.kid,
            &key.alg,
            &key.signs_from,
            retiring.iter().map(|k| k.kid.as_str()),
            &retires_at,
        )
        .into_changes();
        store::audit::append(&mut tx, event).await?;
        let report = RotationReport {
            settings,
            new_key: info_of(&key, settings.signing_alg),
            retiring,
        };
        let committed = commit(tx, report).await?;
        self.keysets.invalidate(app_id.as_str());
        Ok(committed)
    }

    /// Operator only: the algorithm of the next keys and the token lifetime. A longer lifetime
    /// keeps the keys on their way out published that much longer. Audited as
    /// `oauth.settings_update` (when something changed).
    pub async fn set_settings(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        signing_alg: Option<SigningAlg>,
        token_lifetime_secs: Option<i64>,
    ) -> Result<Committed<OAuthSettings>, ServiceError> {
        ctx.operator()?;
        let lifetime = token_lifetime_secs
            .map(token_lifetime)
            .transpose()
            .map_err(|_| {
                ServiceError::from(crate::domain::ValidationError::OutOfRange {
                    field: crate::domain::Field::Wire("tokenLifetimeSecs"),
                    min: 60,
                    max: 86_400,
                })
            })?;
        let mut tx = WriteTx::begin(&self.core.pool).await?;
        let before = store::oauth::lock_settings(&mut tx, app_id.as_str())
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        let before = OAuthSettings::from_row(&before);
        let after = OAuthSettings {
            signing_alg: signing_alg.unwrap_or(before.signing_alg),
            token_lifetime_secs: lifetime.unwrap_or(before.token_lifetime_secs),
        };
        let Some(changes) = changes_of::OAuthSettingsChanged::of(
            (before.signing_alg.as_str(), before.token_lifetime_secs),
            (after.signing_alg.as_str(), after.token_lifetime_secs),
        ) else {
            return Ok(Committed::unchanged(after));
        };
        store::oauth::set_settings(
            &mut tx,
            app_id.as_str(),
            &SettingsRow {
                signing_alg: after.signing_alg.as_str().to_owned(),
                token_lifetime_secs: i32::try_from(after.token_lifetime_secs).unwrap_or(600),
            },
        )
        .await?;
        let longer = after.token_lifetime_secs - before.token_lifetime_secs;
        if longer > 0 {
            store::oauth::extend_retirements(
                &mut tx,
                app_id.as_str(),
                i32::try_from(longer).unwrap_or(0),
            )
            .await?;
        }
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::OAuthSettingsUpdate);
        event.changes = changes.into_changes();
        let committed = commit_audited(tx, event, after).await?;
        self.keysets.invalidate(app_id.as_str());
        Ok(committed)
    }
}

fn info_of(row: &KeyRow, alg: SigningAlg) -> KeyInfo {
    KeyInfo {
        kid: row.kid.clone(),
        alg,
        created_at: row.created_at,
        signs_from: row.signs_from,
        retires_at: row.retires_at,
        signing: false,
    }
}

//! Web console sessions: sign-in through [`Latchkey::authenticate`] (same credentials, same
//! abuse limits), a random token per session whose SHA-256 is stored, expiry after inactivity.
//! Each request of a session is authorised afresh from the client's current row (features and
//! allow list), so a change to the client applies at once.

use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{AuthError, Caller, Latchkey, RequestContext, ServiceError};
use crate::auth::random::random_token;
use crate::auth::Credentials;
use crate::domain::ids::{is_token, AppId, ClientId, Named, APP_ID_LEN};
use crate::domain::{AllowList, Feature, FeatureSet};
use crate::store;

/// Characters of `[a-z0-9]` in a session token (about 206 bits).
const TOKEN_LEN: usize = 40;
const OPERATOR_PREFIX: &str = "o.";
const CLIENT_PREFIX: &str = "c.";

/// What the sign-in form carries.
#[derive(Clone)]
pub enum ConsoleLogin {
    Owner {
        app_id: String,
        client_id: String,
        secret: String,
    },
    Operator {
        token: String,
    },
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// Right credentials, but the client may not manage the application.
    #[error("Only a client with the owner feature can sign in to the console.")]
    NotOwner,
    #[error("{0}")]
    Service(#[from] ServiceError),
}

/// A started session: the cookie value (shown to the browser once, never stored) and who it is.
pub struct ConsoleSession {
    pub cookie: String,
    pub caller: Caller,
}

/// A session cookie, parsed: which table, which application, and the token's hash.
enum SessionKey {
    Operator([u8; 32]),
    Owner { app_id: String, hash: [u8; 32] },
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_cookie(cookie: &str) -> Option<SessionKey> {
    if let Some(token) = cookie.strip_prefix(OPERATOR_PREFIX) {
        return is_token(token, TOKEN_LEN).then(|| SessionKey::Operator(hash(token)));
    }
    let (app_id, token) = cookie.strip_prefix(CLIENT_PREFIX)?.split_once('.')?;
    (is_token(app_id, APP_ID_LEN) && is_token(token, TOKEN_LEN)).then(|| SessionKey::Owner {
        app_id: app_id.to_owned(),
        hash: hash(token),
    })
}

impl Latchkey {
    /// Checks the credentials exactly as an API request would (failures count towards the
    /// lock-out) and opens a session. Sessions idle longer than `idle` are cleaned up here.
    pub async fn console_sign_in(
        &self,
        login: ConsoleLogin,
        source_ip: IpAddr,
        idle: Duration,
    ) -> Result<ConsoleSession, SignInError> {
        let idle_secs = idle.as_secs_f64();
        let token = random_token(TOKEN_LEN);
        match login {
            ConsoleLogin::Operator { token: presented } => {
                let caller = self
                    .authenticate(None, Some(Credentials::Bearer(presented)), source_ip)
                    .await?;
                let Some(fingerprint) = self.operator_token.fingerprint() else {
                    return Err(AuthError::BadCredentials.into());
                };
                if !caller.is_operator() {
                    return Err(AuthError::BadCredentials.into());
                }
                store::console_sessions::delete_idle_operators(&self.pool, idle_secs)
                    .await
                    .map_err(ServiceError::from)?;
                store::console_sessions::insert_operator(&self.pool, &hash(&token), &fingerprint)
                    .await
                    .map_err(ServiceError::from)?;
                Ok(ConsoleSession {
                    cookie: format!("{OPERATOR_PREFIX}{token}"),
                    caller,
                })
            }
            ConsoleLogin::Owner {
                app_id,
                client_id,
                secret,
            } => {
                // A malformed application id cannot exist: answer like wrong credentials, after
                // the same checks (authenticate runs Argon2 for unknown clients too).
                let app = if is_token(&app_id, APP_ID_LEN) {
                    app_id.clone()
                } else {
                    String::new()
                };
                let caller = self
                    .authenticate(
                        Some(&app),
                        Some(Credentials::Client { client_id, secret }),
                        source_ip,
                    )
                    .await?;
                let Caller::Client { client_id, .. } = &caller else {
                    return Err(AuthError::BadCredentials.into());
                };
                if !caller.has(Feature::Owner) {
                    return Err(SignInError::NotOwner);
                }
                store::console_sessions::delete_idle_clients(&self.pool, &app, idle_secs)
                    .await
                    .map_err(ServiceError::from)?;
                store::console_sessions::insert_client(
                    &self.pool,
                    &app,
                    &hash(&token),
                    client_id.as_str(),
                )
                .await
                .map_err(ServiceError::from)?;
                Ok(ConsoleSession {
                    cookie: format!("{CLIENT_PREFIX}{app}.{token}"),
                    caller,
                })
            }
        }
    }

    /// The caller of a session cookie, or `None` when there is no such live session, its
    /// client is gone, lost `owner`, or no longer allows `source_ip`. Marks the session used.
    pub async fn console_caller(
        &self,
        cookie: &str,
        source_ip: IpAddr,
        idle: Duration,
    ) -> Result<Option<Caller>, ServiceError> {
        let idle_secs = idle.as_secs_f64();
        match parse_cookie(cookie) {
            None => Ok(None),
            Some(SessionKey::Operator(hash)) => {
                // No operator token any more: nobody is the operator.
                let Some(fingerprint) = self.operator_token.fingerprint() else {
                    return Ok(None);
                };
                let live = store::console_sessions::touch_operator(
                    &self.pool,
                    &hash,
                    &fingerprint,
                    idle_secs,
                )
                .await?;
                Ok(live.then_some(Caller::Operator))
            }
            Some(SessionKey::Owner { app_id, hash }) => {
                let Some(client_id) =
                    store::console_sessions::touch_client(&self.pool, &app_id, &hash, idle_secs)
                        .await?
                else {
                    return Ok(None);
                };
                let Some(row) = store::clients::get(&self.pool, &app_id, &client_id).await? else {
                    return Ok(None);
                };
                let features = FeatureSet::from_stored(&row.features);
                if !features.contains(Feature::Owner)
                    || !AllowList::from_nets(row.ip_whitelist).permits(source_ip)
                {
                    return Ok(None);
                }
                // The session key's id had its check (`session_key`), the client's is stored.
                Ok(Some(Caller::Client {
                    app_id: AppId::from_trusted(app_id),
                    client_id: ClientId::from_trusted(client_id),
                    features,
                }))
            }
        }
    }

    /// Ends a session (an unknown or malformed cookie is already no session).
    pub async fn console_sign_out(&self, cookie: &str) -> Result<(), ServiceError> {
        match parse_cookie(cookie) {
            None => Ok(()),
            Some(SessionKey::Operator(hash)) => {
                Ok(store::console_sessions::delete_operator(&self.pool, &hash).await?)
            }
            Some(SessionKey::Owner { app_id, hash }) => {
                Ok(store::console_sessions::delete_client(&self.pool, &app_id, &hash).await?)
            }
        }
    }

    /// Changes per day (UTC) of the application's audit log over the last `days` days, oldest
    /// first, days without changes included. Owners and the operator.
    pub async fn audit_daily_changes(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        days: u32,
    ) -> Result<Vec<(chrono::NaiveDate, i64)>, ServiceError> {
        ctx.owner()?;
        self.ensure_app(ctx, app_id).await?;
        let today = chrono::Utc::now().date_naive();
        let first = today - chrono::Days::new(u64::from(days.max(1)) - 1);
        let since = first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let counts = store::audit::daily_changes(&self.pool, app_id.as_str(), since).await?;
        Ok(first
            .iter_days()
            .take_while(|d| *d <= today)
            .map(|d| {
                let n = counts.iter().find(|(day, _)| *day == d).map_or(0, |c| c.1);
                (d, n)
            })
            .collect())
    }
}

/// The console's CSRF token of a session: derived from the session's secret cookie (HMAC), so
/// a page can embed it and only someone who holds the cookie can compute it.
pub fn csrf_token(cookie: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<Sha256>::new_from_slice(cookie.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => return String::new(),
    };
    mac.update(b"latchkey console csrf");
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_parse_only_in_their_shapes() {
        let token = "a".repeat(TOKEN_LEN);
        let app = "b".repeat(APP_ID_LEN);
        assert!(matches!(
            parse_cookie(&format!("o.{token}")),
            Some(SessionKey::Operator(_))
        ));
        assert!(matches!(
            parse_cookie(&format!("c.{app}.{token}")),
            Some(SessionKey::Owner { .. })
        ));
        assert!(parse_cookie(&format!("c.{token}")).is_none());
        assert!(parse_cookie(&format!("o.{token}x")).is_none());
        assert!(parse_cookie(&format!("c.{app}.{}", "A".repeat(TOKEN_LEN))).is_none());
        assert!(parse_cookie("").is_none());
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_eq!(csrf_token("o.x"), csrf_token("o.x"));
        assert_ne!(csrf_token("o.x"), csrf_token("o.y"));
        assert_eq!(csrf_token("o.x").len(), 32);
    }
}

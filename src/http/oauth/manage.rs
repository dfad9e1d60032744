//! Managing OAuth: an owner's registered client keys for private_key_jwt
//! (`/config/{appId}/clients/{clientId}/jwks`, Config API errors) and the operator's token
//! settings and key rotation (`/apps/{appId}/oauth…`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::JwksBody;
use crate::domain::ids::{AppId, ClientId, Named};
use crate::domain::oauth::SigningAlg;
use crate::domain::{Field, ValidationError};
use crate::http::config::error::error_body;
use crate::http::config::fields::{integer, optional_string};
use crate::http::config::{ConfigError, ConfigRequest, ErrorBody, JsonBody, OperatorRequest};
use crate::service::oauth::{KeyInfo, OAuth, OAuthSettings, RotationReport};

/// A Config API failure, or a key set that is refused (`{"errors": "Not a valid JWK set: …"}`).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("Not a valid JWK set: {0}")]
    Invalid(String),
    #[error("No key set registered.")]
    NotRegistered,
}

impl From<crate::service::ServiceError> for JwksError {
    fn from(e: crate::service::ServiceError) -> Self {
        JwksError::Config(e.into())
    }
}

impl ResponseError for JwksError {
    fn status_code(&self) -> StatusCode {
        match self {
            JwksError::Config(e) => e.status_code(),
            JwksError::Invalid(_) => StatusCode::BAD_REQUEST,
            JwksError::NotRegistered => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            JwksError::Config(e) => e.error_response(),
            other => error_body(other.status_code(), &other.to_string()),
        }
    }
}

fn keys_of(jwks: Option<Value>) -> JwksBody {
    JwksBody {
        keys: jwks
            .and_then(|v| v.get("keys").and_then(Value::as_array).cloned())
            .unwrap_or_default(),
    }
}

/// A client's key set as sent (its schema is written by hand in `super::schemas`).
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the body; the handler reads the JSON")]
pub struct ClientJwksInput {
    #[schema(value_type = Vec<Object>)]
    keys: Vec<Value>,
}

/// The client's registered public keys (`{"keys": []}` when none).
#[utoipa::path(get, path = "/config/{appId}/clients/{clientId}/jwks", tag = "oauth",
    params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = JwksBody)))]
pub async fn get_client_jwks(
    r: ConfigRequest,
    oauth: web::Data<OAuth>,
    path: web::Path<(String, Named<ClientId>)>,
) -> Result<HttpResponse, JwksError> {
    let (_, client_id) = path.into_inner();
    let jwks = oauth.client_jwks(&r.ctx, &r.app_id, &client_id).await?;
    Ok(HttpResponse::Ok().json(keys_of(jwks)))
}

/// Registers the client's public keys for private_key_jwt (replaces the set). Audited as
/// `client.jwks_set`.
#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}/jwks", tag = "oauth",
    params(("appId" = String, Path), ("clientId" = String, Path)),
    request_body = ClientJwksInput,
    responses((status = 200, body = JwksBody),
        (status = 400, body = ErrorBody, description = "`Not a valid JWK set: …` (or `Invalid JSON body.`)")))]
pub async fn put_client_jwks(
    r: ConfigRequest,
    oauth: web::Data<OAuth>,
    path: web::Path<(String, Named<ClientId>)>,
    body: JsonBody,
) -> Result<HttpResponse, JwksError> {
    let (_, client_id) = path.into_inner();
    let jwks = Value::Object(body.0);
    let committed = oauth
        .set_client_jwks(&r.ctx, &r.app_id, &client_id, &jwks)
        .await?;
    if let Err(e) = &committed.value {
        return Err(JwksError::Invalid(e.clone()));
    }
    Ok(r.answer(committed, |set| HttpResponse::Ok().json(keys_of(set.ok()))))
}

/// Removes the client's registered keys. Audited as `client.jwks_delete`.
#[utoipa::path(delete, path = "/config/{appId}/clients/{clientId}/jwks", tag = "oauth",
    params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 204, description = "Removed"),
        (status = 404, body = ErrorBody, description = "`Client ID not found.` or `No key set registered.`")))]
pub async fn delete_client_jwks(
    r: ConfigRequest,
    oauth: web::Data<OAuth>,
    path: web::Path<(String, Named<ClientId>)>,
) -> Result<HttpResponse, JwksError> {
    let (_, client_id) = path.into_inner();
    let committed = oauth
        .delete_client_jwks(&r.ctx, &r.app_id, &client_id)
        .await?;
    if !committed.value {
        return Err(JwksError::NotRegistered);
    }
    Ok(r.answer(committed, |_| HttpResponse::NoContent().finish()))
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A published signing key (no private material).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyBody {
    kid: String,
    #[schema(example = "ES256")]
    alg: &'static str,
    created_at: String,
    signs_from: String,
    retires_at: Option<String>,
    signing: bool,
}

impl From<KeyInfo> for KeyBody {
    fn from(k: KeyInfo) -> Self {
        Self {
            kid: k.kid,
            alg: k.alg.as_str(),
            created_at: time(k.created_at),
            signs_from: time(k.signs_from),
            retires_at: k.retires_at.map(time),
            signing: k.signing,
        }
    }
}

/// An application's OAuth settings and published keys.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthAppBody {
    issuer: String,
    #[schema(example = "ES256")]
    signing_alg: &'static str,
    token_lifetime_secs: i64,
    keys: Vec<KeyBody>,
}

fn app_body(
    oauth: &OAuth,
    app_id: &Named<AppId>,
    settings: OAuthSettings,
    keys: Vec<KeyInfo>,
) -> OAuthAppBody {
    OAuthAppBody {
        issuer: oauth.issuer(app_id.as_str()),
        signing_alg: settings.signing_alg.as_str(),
        token_lifetime_secs: settings.token_lifetime_secs,
        keys: keys.into_iter().map(KeyBody::from).collect(),
    }
}

/// The application's OAuth settings and published signing keys (made on first use).
#[utoipa::path(get, path = "/apps/{appId}/oauth", tag = "operator",
    params(("appId" = String, Path)),
    responses((status = 200, body = OAuthAppBody)))]
pub async fn get_app_oauth(
    r: OperatorRequest,
    oauth: web::Data<OAuth>,
    path: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConfigError> {
    let app_id = path.into_inner();
    let (settings, keys) = oauth.keys(&r.ctx, &app_id).await?;
    Ok(HttpResponse::Ok().json(app_body(&oauth, &app_id, settings, keys)))
}

/// The fields `PATCH /apps/{appId}/oauth` takes (each optional).
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the body; the handler reads the fields")]
pub struct OAuthSettingsFields {
    /// `ES256` or `EdDSA`: the algorithm of keys made from now on (rotate to switch).
    #[schema(rename = "signingAlg")]
    signing_alg: Option<String>,
    /// 60–86,400 seconds.
    #[schema(rename = "tokenLifetimeSecs")]
    token_lifetime_secs: Option<i64>,
}

/// Changes the application's token lifetime or next key algorithm (the answer lists no keys:
/// `GET` shows them). Audited as `oauth.settings_update`.
#[utoipa::path(patch, path = "/apps/{appId}/oauth", tag = "operator",
    params(("appId" = String, Path)),
    request_body = OAuthSettingsFields,
    responses((status = 200, body = OAuthAppBody)))]
pub async fn patch_app_oauth(
    r: OperatorRequest,
    oauth: web::Data<OAuth>,
    path: web::Path<Named<AppId>>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let app_id = path.into_inner();
    let alg = optional_string(&body.0, "signingAlg")?
        .map(|a| a.parse::<SigningAlg>())
        .transpose()
        .map_err(|_| ValidationError::NotAString {
            field: Field::Wire("signingAlg"),
        })?;
    let lifetime = match body.0.get("tokenLifetimeSecs") {
        None | Some(Value::Null) => None,
        Some(v) => Some(integer(v).ok_or(ValidationError::NotAnInteger {
            field: Field::Wire("tokenLifetimeSecs"),
        })?),
    };
    let committed = oauth.set_settings(&r.ctx, &app_id, alg, lifetime).await?;
    Ok(r.answer(committed, |settings| {
        HttpResponse::Ok().json(app_body(&oauth, &app_id, settings, Vec::new()))
    }))
}

/// What a rotation did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationBody {
    new_key: KeyBody,
    retiring: Vec<KeyBody>,
}

/// The JSON of a rotation (the HTTP answer, and what `latchkey oauth keys rotate` prints).
pub fn rotation_json(report: RotationReport) -> Value {
    serde_json::to_value(RotationBody {
        new_key: report.new_key.into(),
        retiring: report.retiring.into_iter().map(KeyBody::from).collect(),
    })
    .unwrap_or_default()
}

/// Rotates the application's signing key: the new key is published now and signs from
/// `now + LATCHKEY_OAUTH_JWKS_MAX_AGE_SECS`; the old ones stay published until their last
/// token expired. Audited as `oauth.key_rotate`.
#[utoipa::path(post, path = "/apps/{appId}/oauth/rotate", tag = "operator",
    params(("appId" = String, Path)),
    responses((status = 200, body = RotationBody)))]
pub async fn rotate(
    r: OperatorRequest,
    oauth: web::Data<OAuth>,
    path: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConfigError> {
    let committed = oauth.rotate_keys(&r.ctx, &path.into_inner()).await?;
    Ok(r.answer(committed, |report| {
        HttpResponse::Ok().json(rotation_json(report))
    }))
}

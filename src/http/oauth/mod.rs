//! OAuth 2.0 endpoints (docs/oauth.md): RFC 8414 metadata, the JWKS, the token endpoint
//! (client_credentials), introspection (RFC 7662) and revocation (RFC 7009), all per
//! application under `/oauth/{appId}`. Errors use RFC 6749 §5.2's JSON form; every answer of
//! the token, introspection and revocation endpoints carries `Cache-Control: no-store`.
//!
//! The owner's client-key endpoints (`/config/{appId}/clients/{clientId}/jwks`) and the
//! operator's settings and rotation (`/apps/{appId}/oauth…`) are in [`manage`].

pub mod manage;
pub mod schemas;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::credentials::parse_authorization;
use crate::auth::Credentials;
use crate::domain::ids::{AppId, Named};
use crate::domain::oauth::{AccessClaims, Audience, JWT_BEARER_ASSERTION};
use crate::domain::Feature;
use crate::http::request::{
    content_type, is_form_urlencoded, read_body, request_id, source_ip, BodyError,
};
use crate::http::HttpState;
use crate::service::oauth::{ClientAuth, Introspection, OAuth, OAuthError, TokenRequest};

/// An OAuth failure as answered: `{"error", "error_description"}` with its status.
#[derive(Debug)]
pub struct OAuthResponseError {
    error: OAuthError,
    /// The client used HTTP Basic (the 401 challenge names that scheme).
    basic: bool,
}

impl From<OAuthError> for OAuthResponseError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            basic: false,
        }
    }
}

impl std::fmt::Display for OAuthResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// RFC 6749 §5.2's error body.
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    #[schema(example = "invalid_client")]
    pub error: &'static str,
    pub error_description: String,
}

impl ResponseError for OAuthResponseError {
    fn status_code(&self) -> StatusCode {
        match &self.error {
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            OAuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::AppNotFound => StatusCode::NOT_FOUND,
            OAuthError::NoSealingKey | OAuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let OAuthError::InvalidClient { reason } = &self.error {
            tracing::info!(reason, "OAuth client authentication failed");
            let challenge = if self.basic {
                r#"Basic realm="latchkey", error="invalid_client""#
            } else {
                r#"Basic realm="latchkey""#
            };
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let OAuthError::RateLimited { retry_after_secs } = &self.error {
            res.insert_header((header::RETRY_AFTER, *retry_after_secs));
        }
        res.json(OAuthErrorBody {
            error: self.error.code(),
            error_description: self.error.to_string(),
        })
    }
}

type OAuthResult = Result<HttpResponse, OAuthResponseError>;

fn oauth_service(req: &HttpRequest) -> Result<web::Data<OAuth>, OAuthError> {
    req.app_data::<web::Data<OAuth>>()
        .cloned()
        .ok_or(OAuthError::Internal)
}

/// The parameters of a form body: `application/x-www-form-urlencoded`, each name at most once
/// (RFC 6749 §3.2), at most 64 KiB.
async fn form(req: &HttpRequest, payload: Payload) -> Result<Vec<(String, String)>, OAuthError> {
    let body = read_body(req, payload).await.map_err(|e| {
        OAuthError::InvalidRequest(
            match e {
                BodyError::TooLarge => "the body is over 64 KiB",
                BodyError::Unreadable => "the body could not be read",
                BodyError::TimedOut => "the body was not received in time",
            }
            .into(),
        )
    })?;
    if !content_type(req).is_some_and(|m| is_form_urlencoded(&m)) {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    for (i, (name, _)) in params.iter().enumerate() {
        if name != "resource" && params[..i].iter().any(|(n, _)| n == name) {
            return Err(OAuthError::InvalidRequest(format!(
                "the parameter {name} is repeated"
            )));
        }
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The client authentication of a request: exactly one of HTTP Basic, `client_secret` in the
/// body, or a client assertion. Returns whether Basic was used.
fn client_auth(
    req: &HttpRequest,
    params: &[(String, String)],
) -> Result<(ClientAuth, bool), OAuthError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let basic = match header {
        None => None,
        Some(value) => match parse_authorization(value) {
            Ok(Some(Credentials::Client { client_id, secret })) => Some((client_id, secret)),
            _ => {
                return Err(OAuthError::InvalidClient {
                    reason: "an Authorization header that is not Basic client credentials".into(),
                })
            }
        },
    };
    let post = param(params, "client_secret");
    let assertion = param(params, "client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(post.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::InvalidRequest(
            "use exactly one client authentication method".into(),
        ));
    }
    if assertion.is_none() && param(params, "client_assertion_type").is_some() {
        return Err(OAuthError::InvalidRequest(
            "client_assertion_type without client_assertion".into(),
        ));
    }
    let client_param = param(params, "client_id");
    if let Some((client_id, secret)) = basic {
        if client_param.is_some_and(|c| c != client_id) {
            return Err(OAuthError::InvalidRequest(
                "client_id differs from the authenticated client".into(),
            ));
        }
        return Ok((ClientAuth::Secret { client_id, secret }, true));
    }
    if let Some(secret) = post {
        return Ok((
            ClientAuth::Secret {
                client_id: client_param.unwrap_or_default().to_owned(),
                secret: secret.to_owned(),
            },
            false,
        ));
    }
    if let Some(assertion) = assertion {
        if param(params, "client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::InvalidRequest(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )));
        }
        return Ok((
            ClientAuth::Assertion {
                client_id: client_param.map(str::to_owned),
                assertion: assertion.to_owned(),
            },
            false,
        ));
    }
    Err(OAuthError::InvalidClient {
        reason: "no client authentication".into(),
    })
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res.headers_mut()
        .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    res
}

/// RFC 8414 authorization server metadata.
#[derive(Serialize, ToSchema)]
pub struct MetadataBody {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    grant_types_supported: Vec<&'static str>,
    response_types_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Algorithms the access tokens are signed with (ES256 by default, EdDSA per application).
    access_token_signing_alg_values_supported: Vec<&'static str>,
    scopes_supported: Vec<&'static str>,
}

const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

async fn metadata(req: HttpRequest, app_id: Named<AppId>) -> OAuthResult {
    let oauth = oauth_service(&req)?;
    let e = oauth.endpoints(&app_id).await?;
    Ok(HttpResponse::Ok().json(MetadataBody {
        issuer: e.issuer,
        token_endpoint: e.token_endpoint,
        jwks_uri: e.jwks_uri,
        introspection_endpoint: e.introspection_endpoint,
        revocation_endpoint: e.revocation_endpoint,
        grant_types_supported: vec!["client_credentials"],
        response_types_supported: vec![],
        token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        token_endpoint_auth_signing_alg_values_supported: vec![
            "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256",
        ],
        introspection_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        access_token_signing_alg_values_supported: vec!["ES256", "EdDSA"],
        scopes_supported: Feature::ALL.iter().map(|f| f.as_str()).collect(),
    }))
}

/// RFC 8414 metadata at the well-known path of RFC 8414 §3.1.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server/oauth/{appId}", tag = "oauth",
    params(("appId" = String, Path)),
    responses((status = 200, body = MetadataBody)))]
pub async fn metadata_well_known(req: HttpRequest, path: web::Path<Named<AppId>>) -> OAuthResult {
    metadata(req, path.into_inner()).await
}

/// RFC 8414 metadata below the issuer (where many clients look first).
#[utoipa::path(get, path = "/oauth/{appId}/.well-known/oauth-authorization-server", tag = "oauth",
    params(("appId" = String, Path)),
    responses((status = 200, body = MetadataBody)))]
pub async fn metadata_below_issuer(req: HttpRequest, path: web::Path<Named<AppId>>) -> OAuthResult {
    metadata(req, path.into_inner()).await
}

/// A JWK set (RFC 7517).
#[derive(Serialize, ToSchema)]
pub struct JwksBody {
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<Value>,
}

/// The application's public signing keys: the one signing, the next one, and older ones still
/// needed to verify unexpired tokens.
#[utoipa::path(get, path = "/oauth/{appId}/jwks", tag = "oauth",
    params(("appId" = String, Path)),
    responses((status = 200, body = JwksBody, headers(("Cache-Control" = String))),
        (status = 503, body = OAuthErrorBody, description = "No sealing key, or the database is unreachable")))]
pub async fn jwks(req: HttpRequest, path: web::Path<Named<AppId>>) -> OAuthResult {
    let oauth = oauth_service(&req)?;
    let set = oauth.jwks(&path.into_inner()).await?;
    let keys = set
        .keys
        .iter()
        .map(|k| serde_json::to_value(k).unwrap_or_default())
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", oauth.jwks_max_age().as_secs()),
        ))
        .json(JwksBody { keys }))
}

/// The form of a token request (client authentication by Basic, by `client_id` and
/// `client_secret`, or by `client_assertion_type` and `client_assertion`).
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the form; the handler reads the pairs")]
pub struct TokenForm {
    #[schema(example = "client_credentials")]
    grant_type: String,
    scope: Option<String>,
    resource: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// A token answer (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

/// The client_credentials grant: a JWT access token (RFC 9068) carrying the client's features
/// as scopes.
#[utoipa::path(post, path = "/oauth/{appId}/token", tag = "oauth",
    params(("appId" = String, Path)),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenBody, headers(("Cache-Control" = String))),
        (status = 400, body = OAuthErrorBody, description = "invalid_request, unsupported_grant_type, invalid_scope, invalid_target, unauthorized_client")))]
pub async fn token(
    req: HttpRequest,
    path: web::Path<Named<AppId>>,
    payload: web::Payload,
) -> OAuthResult {
    let app_id = path.into_inner();
    let result = issue(&req, &app_id, payload.into_inner()).await;
    if let Some(state) = req.app_data::<web::Data<HttpState>>() {
        let (app, outcome) = match &result {
            Ok(_) => (app_id.as_str(), "issued"),
            Err(e) if e.error.after_authentication() => (app_id.as_str(), e.error.code()),
            Err(e) => ("-", e.error.code()),
        };
        state.metrics.oauth_token(app, outcome);
    }
    result
}

async fn issue(req: &HttpRequest, app_id: &Named<AppId>, payload: Payload) -> OAuthResult {
    let oauth = oauth_service(req)?;
    let params = form(req, payload).await?;
    let grant_type = param(&params, "grant_type")
        .ok_or_else(|| OAuthError::InvalidRequest("grant_type is missing".into()))?
        .to_owned();
    let (auth, basic) = client_auth(req, &params)?;
    let request = TokenRequest {
        grant_type,
        scope: param(&params, "scope").map(str::to_owned),
        resources: params
            .iter()
            .filter(|(n, _)| n == "resource")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let issued = oauth
        .issue_token(app_id, auth, request, source_ip(req))
        .await
        .map_err(|error| OAuthResponseError { error, basic })?;
    Ok(no_store(HttpResponse::Ok().json(TokenBody {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
    })))
}

/// The form of introspection and revocation (plus the client authentication of [`TokenForm`]).
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the form; the handler reads the pairs")]
pub struct TokenCheckForm {
    token: String,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}` or the token's claims.
#[derive(Serialize, ToSchema, Default)]
pub struct IntrospectionBody {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

impl From<AccessClaims> for IntrospectionBody {
    fn from(c: AccessClaims) -> Self {
        Self {
            active: true,
            scope: Some(c.scope),
            client_id: Some(c.client_id),
            token_type: Some("Bearer"),
            exp: Some(c.exp),
            iat: Some(c.iat),
            sub: Some(c.sub),
            aud: Some(c.aud),
            iss: Some(c.iss),
            jti: Some(c.jti),
        }
    }
}

async fn token_param(
    req: &HttpRequest,
    payload: Payload,
) -> Result<(ClientAuth, bool, String), OAuthError> {
    let params = form(req, payload).await?;
    let token = param(&params, "token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?
        .to_owned();
    let (auth, basic) = client_auth(req, &params)?;
    Ok((auth, basic, token))
}

/// RFC 7662 introspection. Callers: a client of the application with `owner` or
/// `access_issuer` (any token), or the token's own client (others see every token inactive).
#[utoipa::path(post, path = "/oauth/{appId}/introspect", tag = "oauth",
    params(("appId" = String, Path)),
    request_body(content = TokenCheckForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = IntrospectionBody),
        (status = 400, body = OAuthErrorBody, description = "invalid_request, unauthorized_client")))]
pub async fn introspect(
    req: HttpRequest,
    path: web::Path<Named<AppId>>,
    payload: web::Payload,
) -> OAuthResult {
    let oauth = oauth_service(&req)?;
    let (auth, basic, token) = token_param(&req, payload.into_inner()).await?;
    let answer = oauth
        .introspect(&path.into_inner(), auth, &token, source_ip(&req))
        .await
        .map_err(|error| OAuthResponseError { error, basic })?;
    let body = match answer {
        Introspection::Inactive => IntrospectionBody::default(),
        Introspection::Active(claims) => claims.into(),
    };
    Ok(no_store(HttpResponse::Ok().json(body)))
}

/// RFC 7009 revocation by the token's own client or an owner; 200 with an empty body, also for
/// unknown, foreign and expired tokens.
#[utoipa::path(post, path = "/oauth/{appId}/revoke", tag = "oauth",
    params(("appId" = String, Path)),
    request_body(content = TokenCheckForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked (or nothing to revoke)"),
        (status = 400, body = OAuthErrorBody, description = "invalid_request, unauthorized_client")))]
pub async fn revoke(
    req: HttpRequest,
    path: web::Path<Named<AppId>>,
    payload: web::Payload,
) -> OAuthResult {
    let oauth = oauth_service(&req)?;
    let (auth, basic, token) = token_param(&req, payload.into_inner()).await?;
    let committed = oauth
        .revoke(
            &path.into_inner(),
            auth,
            &token,
            &request_id(&req),
            source_ip(&req),
        )
        .await
        .map_err(|error| OAuthResponseError { error, basic })?;
    Ok(crate::http::revision::answer(
        oauth.core(),
        committed,
        |()| no_store(HttpResponse::Ok().finish()),
    ))
}

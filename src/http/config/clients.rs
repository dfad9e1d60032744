//! `/config/{appId}/clients…`: parse, call the service, shape the answer.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::fields::{integer, string_list};
use super::{ConfigError, ConfigRequest, ErrorBody, JsonBody};
use crate::domain::ids::{ClientId, Named};
use crate::domain::{AllowList, Field, ValidationError};
use crate::http::wire::apps::ClientBody;
use crate::service::{ClientChange, ClientDraft, ClientView, Committed, CreatedClient};

fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// `If-Match`: `*` or absent means no condition; `"N"` (or `W/"N"`) must equal the current
/// version; anything else can never match.
fn if_match(req: &HttpRequest) -> Option<i64> {
    let value = req
        .headers()
        .get(header::IF_MATCH)?
        .to_str()
        .unwrap_or("")
        .trim();
    if value == "*" {
        return None;
    }
    let tag = value.strip_prefix("W/").unwrap_or(value);
    Some(
        tag.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1),
    )
}

/// `{name, ipWhitelist?, features?}`: the body of POST and PUT, after the JSON type checks of
/// the seed's messages; the values themselves are judged by the service. Other fields are
/// ignored (a GET can be sent back).
#[derive(ToSchema)]
#[schema(as = ClientInput)]
pub struct ClientFields {
    #[schema(schema_with = crate::http::schemas::name)]
    name: String,
    /// Absent: none (on PUT: all are removed).
    #[schema(schema_with = crate::http::schemas::feature_list)]
    features: Option<Vec<String>>,
    /// Absent: `["0.0.0.0/0"]`.
    #[serde(rename = "ipWhitelist")]
    #[schema(schema_with = crate::http::schemas::cidr_list)]
    ip_whitelist: Option<Vec<String>>,
}

/// `{"hoursToLive": 0..168}`.
#[derive(ToSchema)]
#[schema(as = SecretInput)]
pub struct SecretFields {
    /// How long the previous secret keeps working, in hours.
    #[serde(rename = "hoursToLive")]
    #[schema(minimum = 0, maximum = 168)]
    hours_to_live: i64,
}

fn client_fields(body: &Map<String, Value>) -> Result<ClientFields, ValidationError> {
    let name = match body.get("name") {
        None => return Err(ValidationError::MissingField { field: Field::Name }),
        Some(Value::Null) => return Err(ValidationError::NameNotSupplied),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ValidationError::NotAString { field: Field::Name }),
    };
    let ip_whitelist = body
        .get("ipWhitelist")
        .map(|v| string_list(v, "ipWhitelist"))
        .transpose()?;
    let features = body
        .get("features")
        .map(|v| string_list(v, "features"))
        .transpose()?;
    Ok(ClientFields {
        name,
        features,
        ip_whitelist,
    })
}

fn has_features(req: &HttpRequest) -> Vec<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, _)| k == "has_feature")
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// The application's clients.
#[utoipa::path(get, path = "/config/{appId}/clients", tag = "clients",
    params(("appId" = String, Path),
        ("has_feature" = Option<Vec<String>>, Query, explode, description = "Repeatable: only clients having any of these features.")),
    responses((status = 200, body = Vec<ClientBody>),
        (status = 400, body = ErrorBody, description = "`has_feature` names no feature")))]
pub async fn list(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let clients = r
        .service
        .clients()
        .list(&r.ctx, &r.app_id, &has_features(&req))
        .await?;
    let ids: Vec<String> = clients.iter().map(|c| c.client_id.clone()).collect();
    let shown = r.service.shown_secrets(&r.ctx, &r.app_id, &ids).await?;
    Ok(r.answer(shown, |shown| {
        let body: Vec<ClientBody> = clients
            .into_iter()
            .map(|c| {
                let secret = shown.get(&c.client_id);
                ClientBody::new(c, secret)
            })
            .collect();
        HttpResponse::Ok().json(body)
    }))
}

fn created(c: CreatedClient, status: actix_web::http::StatusCode) -> HttpResponse {
    let location = format!("/config/{}/clients/{}", c.client.app_id, c.client.client_id);
    let mut res = HttpResponse::build(status);
    res.insert_header(etag(c.client.version));
    if status == actix_web::http::StatusCode::CREATED {
        res.insert_header((header::LOCATION, location));
    }
    res.json(ClientBody::new(c.client, Some(c.secret)))
}

/// A new client, with its secret (shown only here).
#[utoipa::path(post, path = "/config/{appId}/clients", tag = "clients", request_body = ClientFields,
    params(("appId" = String, Path)),
    responses((status = 201, body = ClientBody, headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = ErrorBody, description = "A field refused: the message says why"),
        (status = 409, body = ErrorBody, description = "`API client <name> already exists.`")))]
pub async fn create(r: ConfigRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let fields = client_fields(&body.0)?;
    let draft = ClientDraft {
        name: fields.name,
        features: fields.features.unwrap_or_default(),
        ip_whitelist: fields.ip_whitelist,
    };
    let c = r.service.clients().create(&r.ctx, &r.app_id, draft).await?;
    Ok(r.answer(c, |c| created(c, actix_web::http::StatusCode::CREATED)))
}

#[utoipa::path(get, path = "/config/{appId}/clients/{clientId}", tag = "clients",
    params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = ClientBody, headers(("ETag" = String)))))]
pub async fn get(
    r: ConfigRequest,
    path: web::Path<(String, Named<ClientId>)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    let c = r
        .service
        .clients()
        .get(&r.ctx, &r.app_id, &client_id)
        .await?;
    shown(&r, Committed::unchanged(c)).await
}

/// PUT is a full replacement (seed 004): no `features` removes them all, no `ipWhitelist`
/// resets it to `["0.0.0.0/0"]`.
#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}", tag = "clients", request_body = ClientFields,
    params(("appId" = String, Path), ("clientId" = String, Path),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]+")$"#, description = "Change only this version (`ETag`)")),
    responses((status = 200, body = ClientBody, headers(("ETag" = String))),
        (status = 400, body = ErrorBody, description = "A field refused: the message says why"),
        (status = 409, body = ErrorBody, description = "`API client <name> already exists.`"),
        (status = 412, body = ErrorBody, description = "`Precondition failed.`: `If-Match` is not the current version")))]
pub async fn replace(
    r: ConfigRequest,
    req: HttpRequest,
    path: web::Path<(String, Named<ClientId>)>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    let fields = client_fields(&body.0)?;
    let change = ClientChange {
        name: Some(fields.name),
        features: Some(fields.features.unwrap_or_default()),
        ip_whitelist: Some(
            fields
                .ip_whitelist
                .unwrap_or_else(|| AllowList::default().strings()),
        ),
    };
    let c = r
        .service
        .clients()
        .update(&r.ctx, &r.app_id, &client_id, change, if_match(&req))
        .await?;
    shown(&r, c).await
}

/// A client read or replaced: 200 with its ETag, and `_secret` where the application shows
/// secrets (`show_secrets`, owners only, each read audited).
async fn shown(r: &ConfigRequest, c: Committed<ClientView>) -> Result<HttpResponse, ConfigError> {
    let ids = std::slice::from_ref(&c.value.client_id);
    let shown = r.service.shown_secrets(&r.ctx, &r.app_id, ids).await?;
    Ok(r.answer(c.and(shown), |(c, shown)| {
        let secret = shown.get(&c.client_id);
        HttpResponse::Ok()
            .insert_header(etag(c.version))
            .json(ClientBody::new(c, secret))
    }))
}

#[utoipa::path(delete, path = "/config/{appId}/clients/{clientId}", tag = "clients",
    params(("appId" = String, Path), ("clientId" = String, Path),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]+")$"#, description = "Delete only this version (`ETag`)")),
    responses((status = 204, description = "Deleted"),
        (status = 412, body = ErrorBody, description = "`Precondition failed.`: `If-Match` is not the current version")))]
pub async fn delete(
    r: ConfigRequest,
    req: HttpRequest,
    path: web::Path<(String, Named<ClientId>)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    let done = r
        .service
        .clients()
        .delete(&r.ctx, &r.app_id, &client_id, if_match(&req))
        .await?;
    Ok(r.answer(done, |()| HttpResponse::NoContent().finish()))
}

/// A new secret (shown only here); the old one keeps working `hoursToLive` hours.
#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}/secret", tag = "clients", request_body = SecretFields,
    params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = ClientBody)))]
pub async fn rotate_secret(
    r: ConfigRequest,
    req: HttpRequest,
    path: web::Path<(String, Named<ClientId>)>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    const FIELD: &str = "hoursToLive";
    let fields = SecretFields {
        hours_to_live: match body.0.get(FIELD) {
            None => Err(ValidationError::MissingField {
                field: Field::HoursToLive,
            }),
            Some(v) => integer(v).ok_or(ValidationError::NotAnInteger {
                field: Field::HoursToLive,
            }),
        }?,
    };
    let c = r
        .service
        .clients()
        .rotate_secret(
            &r.ctx,
            &r.app_id,
            &client_id,
            fields.hours_to_live,
            if_match(&req),
        )
        .await?;
    Ok(r.answer(c, |c| created(c, actix_web::http::StatusCode::OK)))
}

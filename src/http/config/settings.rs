//! `/config/{appId}/settings` (application defaults) and
//! `/config/{appId}/clients/{clientId}/settings` (a client's own values).
//!
//! Both read and write a flat JSON object `{"key": value, …}`: what GET answers can be sent back
//! with PUT. PUT replaces the whole set (keys left out are deleted) and answers what is stored.

use actix_web::{web, HttpResponse};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{ConfigError, ConfigRequest, JsonBody};
use crate::domain::ids::{ClientId, Named};
use crate::service::SettingsTarget;

/// A flat object of settings: key → any JSON value. Keys: not empty, no whitespace or control
/// characters, at most 255 bytes; each value at most 64 KiB of JSON.
#[derive(serde::Serialize)]
#[serde(transparent)]
pub struct SettingsBody(Map<String, Value>);

impl utoipa::PartialSchema for SettingsBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::http::schemas::settings().into()
    }
}

impl ToSchema for SettingsBody {
    fn name() -> std::borrow::Cow<'static, str> {
        "Settings".into()
    }
}

fn ok(settings: Map<String, Value>) -> HttpResponse {
    HttpResponse::Ok().json(SettingsBody(settings))
}

/// The application defaults.
#[utoipa::path(get, path = "/config/{appId}/settings", tag = "settings", params(("appId" = String, Path)),
    responses((status = 200, body = SettingsBody)))]
pub async fn get_defaults(r: ConfigRequest) -> Result<HttpResponse, ConfigError> {
    let settings = r
        .service
        .settings()
        .of(&r.ctx, &r.app_id, SettingsTarget::Defaults, None)
        .await?;
    Ok(ok(settings))
}

/// Replaces the application defaults: keys left out are deleted.
#[utoipa::path(put, path = "/config/{appId}/settings", tag = "settings", params(("appId" = String, Path)),
    request_body = SettingsBody,
    responses((status = 200, body = SettingsBody)))]
pub async fn replace_defaults(
    r: ConfigRequest,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let settings = r
        .service
        .settings()
        .replace(&r.ctx, &r.app_id, SettingsTarget::Defaults, body.0)
        .await?;
    Ok(r.answer(settings, ok))
}

/// The client's own settings (not the defaults).
#[utoipa::path(get, path = "/config/{appId}/clients/{clientId}/settings", tag = "settings",
    params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = SettingsBody)))]
pub async fn get_client(
    r: ConfigRequest,
    path: web::Path<(String, Named<ClientId>)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    let settings = r
        .service
        .settings()
        .of(&r.ctx, &r.app_id, SettingsTarget::Client(&client_id), None)
        .await?;
    Ok(ok(settings))
}

/// Replaces the client's own settings: keys left out are deleted.
#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}/settings", tag = "settings",
    params(("appId" = String, Path), ("clientId" = String, Path)),
    request_body = SettingsBody,
    responses((status = 200, body = SettingsBody)))]
pub async fn replace_client(
    r: ConfigRequest,
    path: web::Path<(String, Named<ClientId>)>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    let settings = r
        .service
        .settings()
        .replace(
            &r.ctx,
            &r.app_id,
            SettingsTarget::Client(&client_id),
            body.0,
        )
        .await?;
    Ok(r.answer(settings, ok))
}

//! `/config/{appId}/settings` (application defaults) and
//! `/config/{appId}/clients/{clientId}/settings` (a client's own values).
//!
//! Both read and write a flat JSON object `{"key": value, …}`: what GET answers can be sent back
//! with PUT. PUT replaces the whole set (keys left out are deleted) and answers what is stored.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::{method_not_allowed, ConfigError, ConfigRequest, JsonBody};
use crate::service::SettingsTarget;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/config/{app_id}/settings")
            .route(web::get().to(get_defaults))
            .route(web::put().to(replace_defaults))
            .default_service(method_not_allowed("GET, PUT")),
    )
    .service(
        web::resource("/config/{app_id}/clients/{client_id}/settings")
            .route(web::get().to(get_client))
            .route(web::put().to(replace_client))
            .default_service(method_not_allowed("GET, PUT")),
    );
}

fn ok(settings: serde_json::Map<String, Value>) -> HttpResponse {
    HttpResponse::Ok().json(Value::Object(settings))
}

async fn get_defaults(r: ConfigRequest) -> Result<HttpResponse, ConfigError> {
    let settings = r
        .service
        .settings_of(&r.ctx, &r.app_id, SettingsTarget::Defaults, None)
        .await?;
    Ok(ok(settings))
}

async fn replace_defaults(r: ConfigRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let settings = r
        .service
        .replace_settings(&r.ctx, &r.app_id, SettingsTarget::Defaults, body.0)
        .await?;
    Ok(ok(settings))
}

async fn get_client(
    r: ConfigRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    let settings = r
        .service
        .settings_of(&r.ctx, &r.app_id, SettingsTarget::Client(&client_id), None)
        .await?;
    Ok(ok(settings))
}

async fn replace_client(
    r: ConfigRequest,
    path: web::Path<(String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id) = path.into_inner();
    let settings = r
        .service
        .replace_settings(
            &r.ctx,
            &r.app_id,
            SettingsTarget::Client(&client_id),
            body.0,
        )
        .await?;
    Ok(ok(settings))
}

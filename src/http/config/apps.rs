//! Operator routes: `/apps`.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use super::clients::ClientBody;
use super::fields::{optional_bool, optional_string, required_string};
use super::{ConfigError, JsonBody, OperatorRequest};
use crate::service::{AppOptions, AppSummary, CreatedClient, NewApp};

#[derive(Serialize)]
pub struct AppBody {
    app_id: String,
    name: String,
    region: String,
    created_at: String,
    signed_requests: bool,
    show_secrets: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<ClientBody>,
}

impl AppBody {
    pub fn new(app: AppSummary, owner: Option<CreatedClient>) -> Self {
        Self {
            app_id: app.app_id,
            name: app.name,
            region: app.region,
            created_at: crate::domain::audit::format_time(&app.created_at),
            signed_requests: app.signed_requests,
            show_secrets: app.show_secrets,
            owner: owner.map(|o| ClientBody::new(o.client, Some(o.secret))),
        }
    }
}

/// `POST /apps {name, region?, app_id?, signed_requests?, show_secrets?}` → 201 with the
/// application and its first owner client.
pub async fn create(r: OperatorRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let new = NewApp {
        name: required_string(&body.0, "name")?,
        region: optional_string(&body.0, "region")?.unwrap_or_else(|| "us".to_owned()),
        app_id: optional_string(&body.0, "app_id")?,
        signed_requests: optional_bool(&body.0, "signed_requests")?.unwrap_or(false),
        show_secrets: optional_bool(&body.0, "show_secrets")?.unwrap_or(false),
    };
    let (app, owner) = r.service.create_app(&r.ctx, new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/apps/{}", app.app_id)))
        .json(AppBody::new(app, Some(owner))))
}

/// `PATCH /apps/{appId} {signed_requests?, show_secrets?}` → 200 with the application.
/// Operator only, audited (`app.update`).
pub async fn update(
    r: OperatorRequest,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let options = AppOptions {
        signed_requests: optional_bool(&body.0, "signed_requests")?,
        show_secrets: optional_bool(&body.0, "show_secrets")?,
    };
    let app = r
        .service
        .set_app_options(&r.ctx, &path.into_inner(), options)
        .await?;
    Ok(HttpResponse::Ok().json(AppBody::new(app, None)))
}

pub async fn list(r: OperatorRequest) -> Result<HttpResponse, ConfigError> {
    let apps = r.service.list_apps(&r.ctx).await?;
    let body: Vec<AppBody> = apps.into_iter().map(|a| AppBody::new(a, None)).collect();
    Ok(HttpResponse::Ok().json(body))
}

pub async fn get(r: OperatorRequest, path: web::Path<String>) -> Result<HttpResponse, ConfigError> {
    let app = r.service.get_app(&r.ctx, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AppBody::new(app, None)))
}

/// The JSON of an application (with its first owner and secret, right after creation), as
/// `POST /apps` and `latchkey apps create` print it.
pub fn app_json(app: AppSummary, owner: Option<CreatedClient>) -> Value {
    serde_json::to_value(AppBody::new(app, owner)).unwrap_or(Value::Null)
}

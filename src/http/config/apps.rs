//! Operator routes: `/apps`.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use super::clients::ClientBody;
use super::{ConfigError, JsonBody, OperatorRequest};
use crate::domain::ValidationError;
use crate::service::{AppSummary, CreatedClient, NewApp, ServiceError};

#[derive(Serialize)]
pub struct AppBody {
    app_id: String,
    name: String,
    region: String,
    created_at: String,
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
            owner: owner.map(|o| ClientBody::new(o.client, Some(o.secret))),
        }
    }
}

fn string_field(
    body: &serde_json::Map<String, Value>,
    field: &'static str,
    default: Option<&str>,
) -> Result<String, ValidationError> {
    match body.get(field) {
        None => default
            .map(str::to_owned)
            .ok_or(ValidationError::MissingField { field }),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ValidationError::NotAString { field }),
    }
}

/// `POST /apps {name, region?}` → 201 with the application and its first owner client.
pub async fn create(r: OperatorRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let new = NewApp {
        name: string_field(&body.0, "name", None).map_err(ServiceError::from)?,
        region: string_field(&body.0, "region", Some("us")).map_err(ServiceError::from)?,
    };
    let (app, owner) = r.service.create_app(&r.ctx, new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/apps/{}", app.app_id)))
        .json(AppBody::new(app, Some(owner))))
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

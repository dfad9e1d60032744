//! Operator routes: `/apps`.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::clients::ClientBody;
use super::fields::{optional_string, required_string};
use super::{ConfigError, ErrorBody, JsonBody, OperatorRequest};
use crate::service::{AppSummary, CreatedClient, NewApp};

/// An application (tenant).
#[derive(Serialize, ToSchema)]
#[schema(as = App)]
pub struct AppBody {
    #[schema(pattern = "^[a-z0-9]{26}$")]
    app_id: String,
    name: String,
    #[schema(schema_with = crate::http::schemas::region)]
    region: String,
    /// RFC 3339.
    created_at: String,
    /// Only right after creation: the first owner client, with its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ClientBody)]
    owner: Option<ClientBody>,
}

/// The body of `POST /apps`. Other fields are ignored.
#[derive(ToSchema)]
#[schema(as = AppInput)]
pub struct AppFields {
    #[schema(schema_with = crate::http::schemas::name)]
    name: String,
    /// Default `us`.
    #[schema(schema_with = crate::http::schemas::optional_region)]
    region: Option<String>,
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

/// A new application and its first owner client (with its secret).
#[utoipa::path(post, path = "/apps", tag = "operator",
    request_body = AppFields,
    responses((status = 201, body = AppBody, headers(("Location" = String))),
        (status = 409, body = ErrorBody, description = "An application with this name exists")))]
pub async fn create(r: OperatorRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let fields = AppFields {
        name: required_string(&body.0, "name")?,
        region: optional_string(&body.0, "region")?,
    };
    let new = NewApp {
        name: fields.name,
        region: fields.region.unwrap_or_else(|| "us".to_owned()),
    };
    let (app, owner) = r.service.create_app(&r.ctx, new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/apps/{}", app.app_id)))
        .json(AppBody::new(app, Some(owner))))
}

/// Every application.
#[utoipa::path(get, path = "/apps", tag = "operator",
    responses((status = 200, body = Vec<AppBody>)))]
pub async fn list(r: OperatorRequest) -> Result<HttpResponse, ConfigError> {
    let apps = r.service.list_apps(&r.ctx).await?;
    let body: Vec<AppBody> = apps.into_iter().map(|a| AppBody::new(a, None)).collect();
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(get, path = "/apps/{appId}", tag = "operator",
    params(("appId" = String, Path)),
    responses((status = 200, body = AppBody),
        (status = 404, body = ErrorBody, description = "`Application not found.`")))]
pub async fn get(r: OperatorRequest, path: web::Path<String>) -> Result<HttpResponse, ConfigError> {
    let app = r.service.get_app(&r.ctx, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AppBody::new(app, None)))
}

/// The JSON of an application (with its first owner and secret, right after creation), as
/// `POST /apps` and `latchkey apps create` print it.
pub fn app_json(app: AppSummary, owner: Option<CreatedClient>) -> Value {
    serde_json::to_value(AppBody::new(app, owner)).unwrap_or(Value::Null)
}

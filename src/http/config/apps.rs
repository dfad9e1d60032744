//! Operator routes: `/apps`.

use actix_web::{web, HttpResponse};
use utoipa::ToSchema;

use super::fields::{optional_bool, optional_string, required_string};
use super::{ConfigError, ErrorBody, JsonBody, OperatorRequest};
use crate::domain::ids::{AppId, Named};
use crate::http::wire::apps::AppBody;
use crate::service::{AppOptions, NewApp};

/// The body of `POST /apps`. Other fields are ignored.
#[derive(ToSchema)]
#[schema(as = AppInput)]
pub struct AppFields {
    #[schema(schema_with = crate::http::schemas::name)]
    name: String,
    /// Default `us`.
    #[schema(schema_with = crate::http::schemas::optional_region)]
    region: Option<String>,
    /// Pin the application id (26 characters of `[a-z0-9]`); default: a random one. A taken id
    /// is a 409.
    #[schema(pattern = "^[a-z0-9]{26}$")]
    app_id: Option<String>,
    /// Check `janrain-signed` requests (needs a sealing key); default false.
    signed_requests: Option<bool>,
    /// Show secrets to owners in reads, each read audited (needs a sealing key); default false.
    show_secrets: Option<bool>,
}

/// The body of `PATCH /apps/{appId}`: options to change; absent ones stay as they are.
#[derive(ToSchema)]
#[schema(as = AppOptionsInput)]
pub struct AppOptionsFields {
    signed_requests: Option<bool>,
    show_secrets: Option<bool>,
}

/// A new application and its first owner client (with its secret).
#[utoipa::path(post, path = "/apps", tag = "operator",
    request_body = AppFields,
    responses((status = 201, body = AppBody, headers(("Location" = String))),
        (status = 409, body = ErrorBody, description = "An application with this name or id exists")))]
pub async fn create(r: OperatorRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let fields = AppFields {
        name: required_string(&body.0, "name")?,
        region: optional_string(&body.0, "region")?,
        app_id: optional_string(&body.0, "app_id")?,
        signed_requests: optional_bool(&body.0, "signed_requests")?,
        show_secrets: optional_bool(&body.0, "show_secrets")?,
    };
    let new = NewApp {
        name: fields.name,
        region: fields.region.unwrap_or_else(|| "us".to_owned()),
        app_id: fields.app_id.as_deref().map(Named::parse),
        signed_requests: fields.signed_requests.unwrap_or(false),
        show_secrets: fields.show_secrets.unwrap_or(false),
    };
    let created = r.service.apps().create(&r.ctx, new).await?;
    Ok(r.answer(created, |(app, owner)| {
        HttpResponse::Created()
            .insert_header(("Location", format!("/apps/{}", app.app_id)))
            .json(AppBody::new(app, Some(owner)))
    }))
}

/// Changes an application's options. Audited (`app.update`).
#[utoipa::path(patch, path = "/apps/{appId}", tag = "operator",
    params(("appId" = String, Path)),
    request_body = AppOptionsFields,
    responses((status = 200, body = AppBody)))]
pub async fn update(
    r: OperatorRequest,
    path: web::Path<Named<AppId>>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let fields = AppOptionsFields {
        signed_requests: optional_bool(&body.0, "signed_requests")?,
        show_secrets: optional_bool(&body.0, "show_secrets")?,
    };
    let options = AppOptions {
        signed_requests: fields.signed_requests,
        show_secrets: fields.show_secrets,
    };
    let app = r
        .service
        .apps()
        .set_options(&r.ctx, &path.into_inner(), options)
        .await?;
    Ok(r.answer(app, |app| HttpResponse::Ok().json(AppBody::new(app, None))))
}

/// Every application.
#[utoipa::path(get, path = "/apps", tag = "operator",
    responses((status = 200, body = Vec<AppBody>)))]
pub async fn list(r: OperatorRequest) -> Result<HttpResponse, ConfigError> {
    let apps = r.service.apps().list(&r.ctx).await?;
    let body: Vec<AppBody> = apps.into_iter().map(|a| AppBody::new(a, None)).collect();
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(get, path = "/apps/{appId}", tag = "operator",
    params(("appId" = String, Path)),
    responses((status = 200, body = AppBody)))]
pub async fn get(
    r: OperatorRequest,
    path: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConfigError> {
    let app = r.service.apps().get(&r.ctx, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AppBody::new(app, None)))
}

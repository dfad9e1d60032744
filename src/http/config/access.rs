//! Access schemas (`/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{read|write}`)
//! and the access decision (`POST /config/{appId}/access/check`).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{ConfigError, ConfigRequest, JsonBody};
use crate::domain::entity_type::SchemaError;
use crate::domain::ValidationError;
use crate::service::{AccessCheck, AccessSchemaView, ServiceError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(
            "/config/{app_id}/clients/{client_id}/accessSchemas/{type_name}/{access_type}",
        )
        .route(web::get().to(get))
        .route(web::put().to(set))
        .route(web::delete().to(delete))
        .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/config/{app_id}/access/check")
            .route(web::post().to(check))
            .default_service(web::to(super::method_not_allowed)),
    );
}

type SchemaPath = web::Path<(String, String, String, String)>;

#[derive(Serialize)]
struct SchemaBody {
    attributes: Vec<String>,
}

impl SchemaBody {
    fn new(view: &AccessSchemaView) -> Self {
        Self {
            attributes: view.attribute_names().unwrap_or_default(),
        }
    }
}

fn invalid(e: impl Into<ServiceError>) -> ConfigError {
    e.into().into()
}

fn string_list(value: &Value, field: &'static str) -> Result<Vec<String>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(invalid(ValidationError::NotAList { field }));
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(invalid(ValidationError::NotAString { field })),
        })
        .collect()
}

async fn get(r: ConfigRequest, path: SchemaPath) -> Result<HttpResponse, ConfigError> {
    let (_, client_id, type_name, access_type) = path.into_inner();
    let view = r
        .service
        .get_access_schema(&r.ctx, &r.app_id, &client_id, &type_name, &access_type)
        .await?;
    Ok(HttpResponse::Ok().json(SchemaBody::new(&view)))
}

/// `{"attributes": [...]}` replaces the list; the answer is the list as stored (canonical
/// paths, the reserved attributes first).
async fn set(
    r: ConfigRequest,
    path: SchemaPath,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let (_, client_id, type_name, access_type) = path.into_inner();
    let attributes = match body.0.get("attributes") {
        None => {
            return Err(invalid(ValidationError::MissingField {
                field: "attributes",
            }))
        }
        Some(v) => string_list(v, "attributes")?,
    };
    let view = r
        .service
        .set_access_schema(
            &r.ctx,
            &r.app_id,
            &client_id,
            &type_name,
            &access_type,
            &attributes,
        )
        .await?;
    Ok(HttpResponse::Ok().json(SchemaBody::new(&view)))
}

async fn delete(r: ConfigRequest, path: SchemaPath) -> Result<HttpResponse, ConfigError> {
    let (_, client_id, type_name, access_type) = path.into_inner();
    r.service
        .delete_access_schema(&r.ctx, &r.app_id, &client_id, &type_name, &access_type)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn required_string(body: &Map<String, Value>, field: &'static str) -> Result<String, ConfigError> {
    match body.get(field) {
        None => Err(invalid(ValidationError::MissingField { field })),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(ValidationError::NotAString { field })),
    }
}

fn optional_string(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ConfigError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(ValidationError::NotAString { field })),
    }
}

/// `{"clientId", "clientSecret"?, "sourceIp"?, "entityType", "access", "attributes", "record"}`
/// → 200 with the decision, allowed or not.
async fn check(r: ConfigRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let b = &body.0;
    let client_id = required_string(b, "clientId")?;
    let client_secret = optional_string(b, "clientSecret")?;
    let source_ip = optional_string(b, "sourceIp")?
        .map(|s| {
            s.parse()
                .map_err(|_| invalid(SchemaError::InvalidIpAddress))
        })
        .transpose()?;
    let entity_type = required_string(b, "entityType")?;
    let access = required_string(b, "access")?.parse().map_err(invalid)?;
    let attributes = match b.get("attributes") {
        None => {
            return Err(invalid(ValidationError::MissingField {
                field: "attributes",
            }))
        }
        Some(v) => string_list(v, "attributes")?,
    };
    let record = required_string(b, "record")?.parse().map_err(invalid)?;
    let decision = r
        .service
        .check_access(
            &r.ctx,
            &r.app_id,
            AccessCheck {
                client_id,
                client_secret,
                source_ip,
                entity_type,
                access,
                record,
                attributes,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(decision))
}

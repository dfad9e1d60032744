//! Access schemas (`/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{read|write}`)
//! and the access decision (`POST /config/{appId}/access/check`).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::fields::{optional_string, required_string, required_string_list};
use super::{ConfigError, ConfigRequest, JsonBody};
use crate::domain::entity_type::SchemaError;
use crate::service::{AccessCheck, AccessSchemaView, Consistency, ServiceError};

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
    let attributes = required_string_list(&body.0, "attributes").map_err(invalid)?;
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

/// `{"clientId", "clientSecret"?, "sourceIp"?, "entityType", "access", "attributes", "record",
/// "consistency"?}` → 200 with the decision, allowed or not, and the `"revision"` it used.
async fn check(r: ConfigRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let b = &body.0;
    let client_id = required_string(b, "clientId").map_err(invalid)?;
    let client_secret = optional_string(b, "clientSecret").map_err(invalid)?;
    let source_ip = optional_string(b, "sourceIp")
        .map_err(invalid)?
        .map(|s| {
            s.parse()
                .map_err(|_| invalid(SchemaError::InvalidIpAddress))
        })
        .transpose()?;
    let entity_type = required_string(b, "entityType").map_err(invalid)?;
    let access = required_string(b, "access")
        .map_err(invalid)?
        .parse()
        .map_err(invalid)?;
    let attributes = required_string_list(b, "attributes").map_err(invalid)?;
    let record = required_string(b, "record")
        .map_err(invalid)?
        .parse()
        .map_err(invalid)?;
    let consistency = Consistency::from_json(b.get("consistency")).map_err(invalid)?;
    let decided = r
        .service
        .check_access_at(
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
            consistency,
        )
        .await?;
    let mut body = serde_json::to_value(&decided.decision)
        .map_err(|e| ConfigError::from(ServiceError::Internal(e.to_string())))?;
    if let Some(fields) = body.as_object_mut() {
        fields.insert("revision".into(), decided.revision.to_string().into());
    }
    Ok(HttpResponse::Ok().json(body))
}

//! `/config/{appId}/entityTypes…`: parse, call the service, shape the answer.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{ConfigError, ConfigRequest, JsonBody};
use crate::domain::entity_type::{AttrDef, EntityType};
use crate::domain::ValidationError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/config/{app_id}/entityTypes")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(super::method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/config/{app_id}/entityTypes/{type_name}")
            .route(web::get().to(get))
            .route(web::put().to(replace))
            .route(web::delete().to(delete))
            .default_service(super::method_not_allowed("GET, PUT, DELETE")),
    );
}

/// An entity type as the Config API shows it: the reserved attributes first.
#[derive(Serialize)]
pub struct EntityTypeBody {
    #[serde(rename = "_self")]
    self_path: String,
    name: String,
    attr_defs: Vec<AttrDef>,
}

impl EntityTypeBody {
    fn new(app_id: &str, et: &EntityType) -> Self {
        Self {
            self_path: format!("/config/{app_id}/entityTypes/{}", et.name),
            name: et.name.clone(),
            attr_defs: et.attr_defs(),
        }
    }
}

fn required<'a>(
    body: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a Value, ConfigError> {
    body.get(field)
        .ok_or_else(|| ConfigError::from(ValidationError::MissingField { field }))
}

async fn list(r: ConfigRequest) -> Result<HttpResponse, ConfigError> {
    let types = r.service.list_entity_types(&r.ctx, &r.app_id).await?;
    let body: Vec<EntityTypeBody> = types
        .iter()
        .map(|t| EntityTypeBody::new(&r.app_id, t))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `{name, attr_defs}` → 201 with the type and its `Location`.
async fn create(r: ConfigRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let name = match required(&body.0, "name")? {
        Value::String(s) => s.clone(),
        _ => {
            return Err(ConfigError::from(ValidationError::NotAString {
                field: "name",
            }))
        }
    };
    let attr_defs = required(&body.0, "attr_defs")?;
    let et = r
        .service
        .create_entity_type(&r.ctx, &r.app_id, &name, attr_defs)
        .await?;
    let body = EntityTypeBody::new(&r.app_id, &et);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, body.self_path.clone()))
        .json(body))
}

async fn get(
    r: ConfigRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, name) = path.into_inner();
    let et = r.service.get_entity_type(&r.ctx, &r.app_id, &name).await?;
    Ok(HttpResponse::Ok().json(EntityTypeBody::new(&r.app_id, &et)))
}

/// `{attr_defs, name?}`: replaces the attributes. `name` may be sent back (a GET's body can be
/// PUT again) but cannot differ from the path: types are not renamed.
async fn replace(
    r: ConfigRequest,
    path: web::Path<(String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let (_, name) = path.into_inner();
    let body_name = match body.0.get("name") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(ConfigError::from(ValidationError::NotAString {
                field: "name",
            }))
        }
    };
    let attr_defs = required(&body.0, "attr_defs")?;
    let et = r
        .service
        .replace_entity_type(&r.ctx, &r.app_id, &name, body_name, attr_defs)
        .await?;
    Ok(HttpResponse::Ok().json(EntityTypeBody::new(&r.app_id, &et)))
}

async fn delete(
    r: ConfigRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, name) = path.into_inner();
    r.service
        .delete_entity_type(&r.ctx, &r.app_id, &name)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

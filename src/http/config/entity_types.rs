//! `/config/{appId}/entityTypes…`: parse, call the service, shape the answer.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{ConfigError, ConfigRequest, ErrorBody, JsonBody};
use crate::domain::entity_type::{AttrDef, EntityType, TypeName};
use crate::domain::ids::Named;
use crate::domain::{Field, ValidationError};

/// An entity type as the Config API shows it: the reserved attributes first.
#[derive(Serialize, ToSchema)]
#[schema(as = EntityType)]
pub struct EntityTypeBody {
    /// `/config/{appId}/entityTypes/{name}`
    #[serde(rename = "_self")]
    self_path: String,
    name: String,
    /// Each: `name`, `type`, optional `description`, `length`, `case-sensitive`,
    /// `constraints`, `features`; `object` and `plural` carry nested `attr_defs`.
    #[schema(value_type = Vec<Object>)]
    attr_defs: Vec<AttrDef>,
}

/// The body of POST, after its JSON type checks. Other fields are ignored.
#[derive(ToSchema)]
#[schema(as = EntityTypeInput)]
pub struct EntityTypeFields<'a> {
    #[schema(schema_with = crate::http::schemas::type_name)]
    name: String,
    /// Attribute definitions (see `EntityType`); the reserved `id`, `uuid`, `created` and
    /// `lastUpdated` are added.
    #[schema(value_type = Vec<Object>)]
    attr_defs: &'a Value,
}

/// The body of PUT: `name` may be sent back (a GET's body can be PUT again) but cannot differ
/// from the path: types are not renamed.
#[derive(ToSchema)]
#[schema(as = EntityTypeChange)]
pub struct EntityTypeChangeFields<'a> {
    /// The path's type name, if given.
    #[schema(schema_with = crate::http::schemas::type_name)]
    name: Option<&'a str>,
    #[schema(value_type = Vec<Object>)]
    attr_defs: &'a Value,
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
    body.get(field).ok_or_else(|| {
        ConfigError::from(ValidationError::MissingField {
            field: Field::Wire(field),
        })
    })
}

#[utoipa::path(get, path = "/config/{appId}/entityTypes", tag = "entity types", params(("appId" = String, Path)),
    responses((status = 200, body = Vec<EntityTypeBody>)))]
pub async fn list(r: ConfigRequest) -> Result<HttpResponse, ConfigError> {
    let types = r.service.entity_types().list(&r.ctx, &r.app_id).await?;
    let body: Vec<EntityTypeBody> = types
        .iter()
        .map(|t| EntityTypeBody::new(r.app_id.as_str(), t))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `{name, attr_defs}` → 201 with the type and its `Location`.
#[utoipa::path(post, path = "/config/{appId}/entityTypes", tag = "entity types", params(("appId" = String, Path)),
    request_body = EntityTypeFields,
    responses((status = 201, body = EntityTypeBody, headers(("Location" = String))),
        (status = 400, body = ErrorBody, description = "A name or definition refused: the message says why"),
        (status = 409, body = ErrorBody, description = "The type exists")))]
pub async fn create(r: ConfigRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let fields = EntityTypeFields {
        name: match required(&body.0, "name")? {
            Value::String(s) => s.clone(),
            _ => {
                return Err(ConfigError::from(ValidationError::NotAString {
                    field: Field::Name,
                }))
            }
        },
        attr_defs: required(&body.0, "attr_defs")?,
    };
    let et = r
        .service
        .entity_types()
        .create(
            &r.ctx,
            &r.app_id,
            &Named::parse(&fields.name),
            fields.attr_defs,
        )
        .await?;
    Ok(r.answer(et, |et| {
        let body = EntityTypeBody::new(r.app_id.as_str(), &et);
        HttpResponse::Created()
            .insert_header((header::LOCATION, body.self_path.clone()))
            .json(body)
    }))
}

#[utoipa::path(get, path = "/config/{appId}/entityTypes/{typeName}", tag = "entity types",
    params(("appId" = String, Path), ("typeName" = String, Path)),
    responses((status = 200, body = EntityTypeBody),
        (status = 404, body = ErrorBody, description = "No such type")))]
pub async fn get(
    r: ConfigRequest,
    path: web::Path<(String, Named<TypeName>)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, name) = path.into_inner();
    let et = r
        .service
        .entity_types()
        .get(&r.ctx, &r.app_id, &name)
        .await?;
    Ok(HttpResponse::Ok().json(EntityTypeBody::new(r.app_id.as_str(), &et)))
}

/// Replaces the attribute definitions. Refused (409) while an access schema names an attribute
/// it would remove.
#[utoipa::path(put, path = "/config/{appId}/entityTypes/{typeName}", tag = "entity types",
    params(("appId" = String, Path), ("typeName" = String, Path)),
    request_body = EntityTypeChangeFields,
    responses((status = 200, body = EntityTypeBody),
        (status = 400, body = ErrorBody, description = "A definition refused: the message says why"),
        (status = 404, body = ErrorBody, description = "No such type"),
        (status = 409, body = ErrorBody, description = "An access schema names a removed attribute")))]
pub async fn replace(
    r: ConfigRequest,
    path: web::Path<(String, Named<TypeName>)>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let (_, name) = path.into_inner();
    let fields = EntityTypeChangeFields {
        name: match body.0.get("name") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                return Err(ConfigError::from(ValidationError::NotAString {
                    field: Field::Name,
                }))
            }
        },
        attr_defs: required(&body.0, "attr_defs")?,
    };
    let et = r
        .service
        .entity_types()
        .replace(&r.ctx, &r.app_id, &name, fields.name, fields.attr_defs)
        .await?;
    Ok(r.answer(et, |et| {
        HttpResponse::Ok().json(EntityTypeBody::new(r.app_id.as_str(), &et))
    }))
}

/// Refused (409) while an access schema names the type.
#[utoipa::path(delete, path = "/config/{appId}/entityTypes/{typeName}", tag = "entity types",
    params(("appId" = String, Path), ("typeName" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody, description = "No such type"),
        (status = 409, body = ErrorBody, description = "An access schema names the type")))]
pub async fn delete(
    r: ConfigRequest,
    path: web::Path<(String, Named<TypeName>)>,
) -> Result<HttpResponse, ConfigError> {
    let (_, name) = path.into_inner();
    let done = r
        .service
        .entity_types()
        .delete(&r.ctx, &r.app_id, &name)
        .await?;
    Ok(r.answer(done, |()| HttpResponse::NoContent().finish()))
}

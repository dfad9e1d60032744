//! Registration API: the `entityType.*` calls (form-encoded RPC at the server root, answered
//! with HTTP 200 and `{"stat": …}`), over the same use cases as the Config API's
//! `/config/{appId}/entityTypes…` and `…/accessSchemas…`.
//!
//! Parameters, authentication and the error envelope (with the entity codes 222/223/232/233/
//! 234) are the shared ones of [`crate::http::registration`].

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::entity_type::AttrDef;
use crate::domain::ids::Named;
use crate::http::registration::{answer, wrote, ArgNames, Call, Done, RegError, Reply};
use crate::service::{added_reserved_notice, SchemaKey, ServiceError};

/// The vendor's `schema` object, in the order of the vendor's own examples (`attr_defs` before
/// `name`; the answer is built as a JSON object, so keys come out sorted).
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationEntityType)]
pub struct VendorSchema {
    /// Each: `name`, `type`, optional `description`, `length`, `case-sensitive`,
    /// `constraints`, `features`; `object` and `plural` carry nested `attr_defs`.
    #[schema(value_type = Vec<Object>)]
    attr_defs: Vec<AttrDef>,
    name: String,
}

/// `entityType`, `create`, `addAttribute`, `removeAttribute`, `setAccessSchema`,
/// `getAccessSchema`: a type (as restricted by a schema where the call says so).
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationSchema)]
pub struct SchemaAnswer {
    schema: VendorSchema,
    /// `setAccessSchema` only: names the reserved attributes that were added.
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<String>,
}

/// `entityType.list`: the type names.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationTypeNames)]
pub struct TypeNames {
    results: Vec<String>,
}

fn schema(name: &str, attr_defs: Vec<AttrDef>) -> SchemaAnswer {
    SchemaAnswer {
        schema: VendorSchema {
            attr_defs,
            name: name.to_owned(),
        },
        notice: None,
    }
}

/// The JSON text of a parameter that must be there.
fn required_json(call: &Call, name: &'static str) -> Result<Value, RegError> {
    call.params.json(name)?.ok_or(RegError::Missing(name))
}

/// `type_name` → the type with every attribute. Owner only.
#[utoipa::path(method(get, post), path = "/entityType", tag = "registration: entity types",
    params(("type_name" = String, Query)),
    responses((status = 200, body = SchemaAnswer)))]
pub async fn entity_type(call: Call) -> Reply {
    let name = &Named::parse(call.params.required("type_name")?);
    let et = call
        .service
        .entity_types()
        .get(&call.ctx, &call.app_id, name)
        .await?;
    answer(&schema(&et.name, et.attr_defs()))
}

/// The names of the application's types. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.list", tag = "registration: entity types",
        responses((status = 200, body = TypeNames)))]
pub async fn list(call: Call) -> Reply {
    let types = call
        .service
        .entity_types()
        .list(&call.ctx, &call.app_id)
        .await?;
    answer(&TypeNames {
        results: types.into_iter().map(|t| t.name).collect(),
    })
}

/// `type_name`, `attr_defs` (JSON list) → the new type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.create", tag = "registration: entity types",
    params(("type_name" = String, Query),
        ("attr_defs" = String, Query, description = "A JSON array of attribute definitions")),
    responses((status = 200, body = SchemaAnswer)))]
pub async fn create(call: Call) -> Reply {
    let name = &Named::parse(call.params.required("type_name")?);
    let attr_defs = required_json(&call, "attr_defs")?;
    let et = call
        .service
        .entity_types()
        .create(&call.ctx, &call.app_id, name, &attr_defs)
        .await?;
    wrote(et.map(|et| schema(&et.name, et.attr_defs())))
}

/// `type_name`. Refused while an access schema names the type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.delete", tag = "registration: entity types",
    params(("type_name" = String, Query)),
    responses((status = 200, body = Done)))]
pub async fn delete(call: Call) -> Reply {
    let name = &Named::parse(call.params.required("type_name")?);
    let done = call
        .service
        .entity_types()
        .delete(&call.ctx, &call.app_id, name)
        .await?;
    wrote(done.map(|()| Done {}))
}

/// `type_name`, `attr_def` (one JSON definition) → the whole type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.addAttribute", tag = "registration: entity types",
    params(("type_name" = String, Query),
        ("attr_def" = String, Query, description = "One JSON attribute definition")),
    responses((status = 200, body = SchemaAnswer)))]
pub async fn add_attribute(call: Call) -> Reply {
    let name = &Named::parse(call.params.required("type_name")?);
    let attr_def = required_json(&call, "attr_def")?;
    let et = call
        .service
        .entity_types()
        .add_attribute(&call.ctx, &call.app_id, name, &attr_def)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.attr_defs("attr_def")))?;
    wrote(et.map(|et| schema(&et.name, et.attr_defs())))
}

/// `type_name`, `attribute_name` (a path, any spelling) → the whole type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.removeAttribute", tag = "registration: entity types",
    params(("type_name" = String, Query),
        ("attribute_name" = String, Query, description = "An attribute path (a.b, /a.b or /a/b)")),
    responses((status = 200, body = SchemaAnswer)))]
pub async fn remove_attribute(call: Call) -> Reply {
    let name = &Named::parse(call.params.required("type_name")?);
    let attribute = call.params.required("attribute_name")?;
    let et = call
        .service
        .entity_types()
        .remove_attribute(&call.ctx, &call.app_id, name, attribute)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.in_use("attribute_name")))?;
    wrote(et.map(|et| schema(&et.name, et.attr_defs())))
}

/// `type_name`, `for_client_id` (default: the caller), `access_type`, `attributes` (JSON list)
/// → the type as restricted by the new schema, and a notice naming the reserved attributes
/// that were added. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.setAccessSchema", tag = "registration: entity types",
    params(("type_name" = String, Query),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("access_type" = String, Query),
        ("attributes" = String, Query, description = "A JSON array of attribute paths")),
    responses((status = 200, body = SchemaAnswer)))]
pub async fn set_access_schema(call: Call) -> Reply {
    let type_name = Named::parse(call.params.required("type_name")?);
    let client_id = call.target_client()?;
    let access_type = call.params.required("access_type")?;
    let attributes = call.params.required_string_list("attributes")?;
    let key = SchemaKey {
        client_id,
        type_name,
        access_type: access_type.parse().map_err(ServiceError::from)?,
    };
    let view = call
        .service
        .access_schemas()
        .set(&call.ctx, &call.app_id, &key, &attributes)
        .await?;
    wrote(view.map(|view| {
        let mut reply = schema(&view.entity_type.name, view.restricted_attr_defs());
        reply.notice = added_reserved_notice(&attributes);
        reply
    }))
}

/// `type_name`, `for_client_id` (default: the caller), `access_type` → the type as that client
/// sees it (the whole type when no schema restricts it). Any client with a feature.
#[utoipa::path(method(get, post), path = "/entityType.getAccessSchema", tag = "registration: entity types",
    params(("type_name" = String, Query),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("access_type" = String, Query)),
    responses((status = 200, body = SchemaAnswer)))]
pub async fn get_access_schema(call: Call) -> Reply {
    let type_name = Named::parse(call.params.required("type_name")?);
    let client_id = call.target_client()?;
    let key = SchemaKey {
        client_id,
        type_name,
        access_type: call
            .params
            .required("access_type")?
            .parse()
            .map_err(ServiceError::from)?,
    };
    let view = call
        .service
        .access_schemas()
        .read(&call.ctx, &call.app_id, &key)
        .await?;
    answer(&schema(&view.entity_type.name, view.restricted_attr_defs()))
}

//! Registration API: the `entityType.*` calls (form-encoded RPC at the server root, answered
//! with HTTP 200 and `{"stat": …}`), over the same use cases as the Config API's
//! `/config/{appId}/entityTypes…` and `…/accessSchemas…`.
//!
//! Parameters, authentication and the error envelope (with the entity codes 222/223/232/233/
//! 234) are the shared ones of [`crate::http::registration`].

use serde_json::{json, Value};

use crate::domain::entity_type::AttrDef;
use crate::http::registration::{reply, ArgNames, Call, RegError, Reply};
use crate::service::added_reserved_notice;

/// The vendor's `schema` object. Built as a JSON value, so keys come out sorted — which is the
/// order of the vendor's own examples (`attr_defs` before `name`; `description`, `name`, `type`).
fn schema(name: &str, attr_defs: Vec<AttrDef>) -> Value {
    json!({ "name": name, "attr_defs": attr_defs })
}

/// The JSON text of a parameter that must be there.
fn required_json(call: &Call, name: &'static str) -> Result<Value, RegError> {
    call.params.json(name)?.ok_or(RegError::Missing(name))
}

/// `type_name` → the type with every attribute. Owner only.
#[utoipa::path(method(get, post), path = "/entityType", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("type_name" = String, Query)),
    responses((status = 200, body = serde_json::Value, description = "`schema`: `{name, attr_defs}`")))]
pub async fn entity_type(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let et = call
        .service
        .get_entity_type(&call.ctx, &call.app_id, name)
        .await?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// The names of the application's types. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.list", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)")),
    responses((status = 200, body = serde_json::Value, description = "`results`: the type names")))]
pub async fn list(call: Call) -> Reply {
    let types = call
        .service
        .list_entity_types(&call.ctx, &call.app_id)
        .await?;
    reply([(
        "results",
        types.into_iter().map(|t| Value::String(t.name)).collect(),
    )])
}

/// `type_name`, `attr_defs` (JSON list) → the new type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.create", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("type_name" = String, Query),
        ("attr_defs" = String, Query, description = "A JSON array of attribute definitions")),
    responses((status = 200, body = serde_json::Value, description = "`schema`: the new type")))]
pub async fn create(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let attr_defs = required_json(&call, "attr_defs")?;
    let et = call
        .service
        .create_entity_type(&call.ctx, &call.app_id, name, &attr_defs)
        .await?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// `type_name`. Refused while an access schema names the type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.delete", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("type_name" = String, Query)),
    responses((status = 200, body = serde_json::Value, description = "nothing but `stat`")))]
pub async fn delete(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    call.service
        .delete_entity_type(&call.ctx, &call.app_id, name)
        .await?;
    reply([])
}

/// `type_name`, `attr_def` (one JSON definition) → the whole type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.addAttribute", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("type_name" = String, Query),
        ("attr_def" = String, Query, description = "One JSON attribute definition")),
    responses((status = 200, body = serde_json::Value, description = "`schema`: the whole type")))]
pub async fn add_attribute(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let attr_def = required_json(&call, "attr_def")?;
    let et = call
        .service
        .add_attribute(&call.ctx, &call.app_id, name, &attr_def)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.attr_defs("attr_def")))?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// `type_name`, `attribute_name` (a path, any spelling) → the whole type. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.removeAttribute", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("type_name" = String, Query),
        ("attribute_name" = String, Query, description = "An attribute path (a.b, /a.b or /a/b)")),
    responses((status = 200, body = serde_json::Value, description = "`schema`: the whole type")))]
pub async fn remove_attribute(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let attribute = call.params.required("attribute_name")?;
    let et = call
        .service
        .remove_attribute(&call.ctx, &call.app_id, name, attribute)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.in_use("attribute_name")))?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// `type_name`, `for_client_id` (default: the caller), `access_type`, `attributes` (JSON list)
/// → the type as restricted by the new schema, and a notice naming the reserved attributes
/// that were added. Owner only.
#[utoipa::path(method(get, post), path = "/entityType.setAccessSchema", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("type_name" = String, Query),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("access_type" = String, Query),
        ("attributes" = String, Query, description = "A JSON array of attribute paths")),
    responses((status = 200, body = serde_json::Value, description = "`schema`: the type as restricted, `notice` when reserved attributes were added")))]
pub async fn set_access_schema(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let target = call.target_client()?;
    let access_type = call.params.required("access_type")?;
    let attributes = call.params.required_string_list("attributes")?;
    let view = call
        .service
        .set_access_schema(
            &call.ctx,
            &call.app_id,
            &target,
            name,
            access_type,
            &attributes,
        )
        .await?;
    let mut fields = reply([(
        "schema",
        schema(&view.entity_type.name, view.restricted_attr_defs()),
    )])?;
    if let Some(notice) = added_reserved_notice(&attributes) {
        fields.insert("notice".into(), Value::String(notice));
    }
    Ok(fields)
}

/// `type_name`, `for_client_id` (default: the caller), `access_type` → the type as that client
/// sees it (the whole type when no schema restricts it). Any client with a feature.
#[utoipa::path(method(get, post), path = "/entityType.getAccessSchema", tag = "registration: entity types",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("type_name" = String, Query),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("access_type" = String, Query)),
    responses((status = 200, body = serde_json::Value, description = "`schema`: the type as the client sees it")))]
pub async fn get_access_schema(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let target = call.target_client()?;
    let access_type = call.params.required("access_type")?;
    let view = call
        .service
        .read_access_schema(&call.ctx, &call.app_id, &target, name, access_type)
        .await?;
    reply([(
        "schema",
        schema(&view.entity_type.name, view.restricted_attr_defs()),
    )])
}

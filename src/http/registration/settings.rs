//! `settings/*`: application defaults and per-client values. Results come in `result`; the
//! set/delete calls answer whether each key existed before.

use serde_json::{Map, Value};

use super::{reply, ArgNames, Call, RegError, Reply};
use crate::service::SettingsTarget;

/// One key, one value: key faults name `key`, value faults `value`.
const ONE: ArgNames = ArgNames::DEFAULT.settings("key", "value");
/// An `items` object: every fault names `items`.
const ITEMS: ArgNames = ArgNames::DEFAULT.settings("items", "items");
/// A `keys` array.
const KEYS: ArgNames = ArgNames::DEFAULT.settings("keys", "keys");

fn result(value: Value) -> Reply {
    reply([("result", value)])
}

fn existed_map(existed: Vec<(String, bool)>) -> Value {
    Value::Object(
        existed
            .into_iter()
            .map(|(k, e)| (k, Value::Bool(e)))
            .collect(),
    )
}

fn only_flag(existed: Vec<(String, bool)>) -> Value {
    Value::Bool(existed.first().is_some_and(|(_, e)| *e))
}

/// `key`: the client's value, else the default, else null.
#[utoipa::path(method(get, post), path = "/settings/get", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("key" = String, Query)),
    responses((status = 200, body = serde_json::Value, description = "`result`: the client's value, else the default, else null")))]
pub async fn get(call: Call) -> Reply {
    let key = call.params.required("key")?.to_owned();
    let target = call.target_client()?;
    let mut found = call
        .service
        .effective_settings(
            &call.ctx,
            &call.app_id,
            &target,
            Some(std::slice::from_ref(&key)),
        )
        .await
        .map_err(RegError::with(ONE))?;
    result(found.remove(&key).unwrap_or(Value::Null))
}

/// `keys` (JSON array): an object with every requested key (null where set nowhere).
#[utoipa::path(method(get, post), path = "/settings/get_multi", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("keys" = String, Query, description = "A JSON array of keys")),
    responses((status = 200, body = serde_json::Value, description = "`result`: an object with every key asked (null where set nowhere)")))]
pub async fn get_multi(call: Call) -> Reply {
    let keys = call.params.required_string_list("keys")?;
    let target = call.target_client()?;
    let mut found = call
        .service
        .effective_settings(&call.ctx, &call.app_id, &target, Some(&keys))
        .await
        .map_err(RegError::with(KEYS))?;
    let values: Map<String, Value> = keys
        .into_iter()
        .map(|k| {
            let v = found.remove(&k).unwrap_or(Value::Null);
            (k, v)
        })
        .collect();
    result(Value::Object(values))
}

/// Every setting the client sees: defaults overlaid by its own values.
#[utoipa::path(method(get, post), path = "/settings/items", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller")),
    responses((status = 200, body = serde_json::Value, description = "`result`: every setting the client sees")))]
pub async fn items(call: Call) -> Reply {
    let target = call.target_client()?;
    let all = call
        .service
        .effective_settings(&call.ctx, &call.app_id, &target, None)
        .await?;
    result(Value::Object(all))
}

/// The keys of [`items`], sorted.
#[utoipa::path(method(get, post), path = "/settings/keys", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller")),
    responses((status = 200, body = serde_json::Value, description = "`result`: the keys of items, sorted")))]
pub async fn keys(call: Call) -> Reply {
    let target = call.target_client()?;
    let all = call
        .service
        .effective_settings(&call.ctx, &call.app_id, &target, None)
        .await?;
    result(Value::Array(
        all.keys().cloned().map(Value::String).collect(),
    ))
}

fn one_item(call: &Call) -> Result<Map<String, Value>, RegError> {
    let key = call.params.required("key")?.to_owned();
    let value = call.params.required_setting_value("value")?;
    Ok(Map::from_iter([(key, value)]))
}

async fn set_in(
    call: &Call,
    target: SettingsTarget<'_>,
    items: Map<String, Value>,
    names: ArgNames,
) -> Result<Vec<(String, bool)>, RegError> {
    call.service
        .set_settings(&call.ctx, &call.app_id, target, items)
        .await
        .map_err(RegError::with(names))
}

async fn delete_in(call: &Call, target: SettingsTarget<'_>) -> Result<Value, RegError> {
    let key = call.params.required("key")?.to_owned();
    let existed = call
        .service
        .delete_settings(&call.ctx, &call.app_id, target, &[key])
        .await
        .map_err(RegError::with(ONE))?;
    Ok(only_flag(existed))
}

/// `key`, `value`: sets the client's own value; true when the key existed.
#[utoipa::path(method(get, post), path = "/settings/set", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("key" = String, Query),
        ("value" = String, Query, description = "Text; JSON when it starts with [ or {")),
    responses((status = 200, body = serde_json::Value, description = "`result`: whether the key existed")))]
pub async fn set(call: Call) -> Reply {
    let item = one_item(&call)?;
    let target = call.target_client()?;
    let existed = set_in(&call, SettingsTarget::Client(&target), item, ONE).await?;
    result(only_flag(existed))
}

/// `items` (JSON object): an object of existed flags.
#[utoipa::path(method(get, post), path = "/settings/set_multi", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("items" = String, Query, description = "A JSON object: key → value")),
    responses((status = 200, body = serde_json::Value, description = "`result`: key → whether it existed")))]
pub async fn set_multi(call: Call) -> Reply {
    let items = call.params.required_object("items")?;
    let target = call.target_client()?;
    let existed = set_in(&call, SettingsTarget::Client(&target), items, ITEMS).await?;
    result(existed_map(existed))
}

/// `key`: deletes the client's own value (the default stays); true when it existed.
#[utoipa::path(method(get, post), path = "/settings/delete", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("key" = String, Query)),
    responses((status = 200, body = serde_json::Value, description = "`result`: whether the key existed")))]
pub async fn delete(call: Call) -> Reply {
    let target = call.target_client()?;
    result(delete_in(&call, SettingsTarget::Client(&target)).await?)
}

/// `key`: the application default, or null.
#[utoipa::path(method(get, post), path = "/settings/get_default", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("key" = String, Query)),
    responses((status = 200, body = serde_json::Value, description = "`result`: the default, or null")))]
pub async fn get_default(call: Call) -> Reply {
    let key = call.params.required("key")?.to_owned();
    let mut found = call
        .service
        .settings_of(
            &call.ctx,
            &call.app_id,
            SettingsTarget::Defaults,
            Some(std::slice::from_ref(&key)),
        )
        .await
        .map_err(RegError::with(ONE))?;
    result(found.remove(&key).unwrap_or(Value::Null))
}

#[utoipa::path(method(get, post), path = "/settings/set_default", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("key" = String, Query),
        ("value" = String, Query, description = "Text; JSON when it starts with [ or {")),
    responses((status = 200, body = serde_json::Value, description = "`result`: whether the key existed")))]
pub async fn set_default(call: Call) -> Reply {
    let item = one_item(&call)?;
    let existed = set_in(&call, SettingsTarget::Defaults, item, ONE).await?;
    result(only_flag(existed))
}

#[utoipa::path(method(get, post), path = "/settings/set_default_multi", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("items" = String, Query, description = "A JSON object: key → value")),
    responses((status = 200, body = serde_json::Value, description = "`result`: key → whether it existed")))]
pub async fn set_default_multi(call: Call) -> Reply {
    let items = call.params.required_object("items")?;
    let existed = set_in(&call, SettingsTarget::Defaults, items, ITEMS).await?;
    result(existed_map(existed))
}

#[utoipa::path(method(get, post), path = "/settings/delete_default", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)"),
        ("key" = String, Query)),
    responses((status = 200, body = serde_json::Value, description = "`result`: whether the key existed")))]
pub async fn delete_default(call: Call) -> Reply {
    result(delete_in(&call, SettingsTarget::Defaults).await?)
}

/// Every client's own values (clients with none are left out) and the defaults.
#[utoipa::path(method(get, post), path = "/settings/get_all", tag = "registration: settings",
    security(("basic" = []), ("operator" = [])),
    params(("application_id" = Option<String>, Query, description = "The application: the caller's own (required for the operator)")),
    responses((status = 200, body = serde_json::Value, description = "`client_settings` (client id → its own values) and `default_settings`")))]
pub async fn get_all(call: Call) -> Reply {
    let all = call.service.all_settings(&call.ctx, &call.app_id).await?;
    let clients: Map<String, Value> = all
        .clients
        .into_iter()
        .map(|(id, values)| (id, Value::Object(values)))
        .collect();
    reply([
        ("client_settings", Value::Object(clients)),
        ("default_settings", Value::Object(all.defaults)),
    ])
}

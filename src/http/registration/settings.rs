//! `settings/*`: application defaults and per-client values. Results come in `result`; the
//! set/delete calls answer whether each key existed before.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{answer, wrote, ArgNames, Call, RegError, Reply};
use crate::service::{Committed, SettingsTarget};

/// One key, one value: key faults name `key`, value faults `value`.
const ONE: ArgNames = ArgNames::DEFAULT.settings("key", "value");
/// An `items` object: every fault names `items`.
const ITEMS: ArgNames = ArgNames::DEFAULT.settings("items", "items");
/// A `keys` array.
const KEYS: ArgNames = ArgNames::DEFAULT.settings("keys", "keys");

/// `settings/get`, `get_default`: the value (client value, else default, else null).
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationSettingValue)]
pub struct Found {
    /// Any JSON value, or null when the key is set nowhere.
    result: Value,
}

/// `settings/get_multi`, `items`: key → value.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationSettingValues)]
pub struct Values {
    #[schema(value_type = Object)]
    result: Map<String, Value>,
}

/// `settings/keys`: the keys, sorted.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationSettingKeys)]
pub struct Keys {
    result: Vec<String>,
}

/// `settings/set`, `delete`, `set_default`, `delete_default`: whether the key existed before.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationSettingExisted)]
pub struct Existed {
    result: bool,
}

/// `settings/set_multi`, `set_default_multi`: key → whether it existed before.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationSettingsExisted)]
pub struct ExistedEach {
    result: BTreeMap<String, bool>,
}

/// `settings/get_all`.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationAllSettings)]
pub struct AllSettings {
    /// Client id → its own values (clients with none are left out).
    #[schema(value_type = Object)]
    client_settings: Map<String, Value>,
    #[schema(value_type = Object)]
    default_settings: Map<String, Value>,
}

fn only_flag(existed: Vec<(String, bool)>) -> Existed {
    Existed {
        result: existed.first().is_some_and(|(_, e)| *e),
    }
}

/// `key`: the client's value, else the default, else null.
#[utoipa::path(method(get, post), path = "/settings/get", tag = "registration: settings",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("key" = String, Query)),
    responses((status = 200, body = Found)))]
pub async fn get(call: Call) -> Reply {
    let key = call.params.required("key")?.to_owned();
    let target = call.target_client()?;
    let mut found = call
        .service
        .settings()
        .effective(
            &call.ctx,
            &call.app_id,
            &target,
            Some(std::slice::from_ref(&key)),
        )
        .await
        .map_err(RegError::with(ONE))?;
    answer(&Found {
        result: found.remove(&key).unwrap_or(Value::Null),
    })
}

/// `keys` (JSON array): an object with every requested key (null where set nowhere).
#[utoipa::path(method(get, post), path = "/settings/get_multi", tag = "registration: settings",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("keys" = String, Query, description = "A JSON array of keys")),
    responses((status = 200, body = Values)))]
pub async fn get_multi(call: Call) -> Reply {
    let keys = call.params.required_string_list("keys")?;
    let target = call.target_client()?;
    let mut found = call
        .service
        .settings()
        .effective(&call.ctx, &call.app_id, &target, Some(&keys))
        .await
        .map_err(RegError::with(KEYS))?;
    let values: Map<String, Value> = keys
        .into_iter()
        .map(|k| {
            let v = found.remove(&k).unwrap_or(Value::Null);
            (k, v)
        })
        .collect();
    answer(&Values { result: values })
}

/// Every setting the client sees: defaults overlaid by its own values.
#[utoipa::path(method(get, post), path = "/settings/items", tag = "registration: settings",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller")),
    responses((status = 200, body = Values)))]
pub async fn items(call: Call) -> Reply {
    answer(&Values {
        result: everything(&call).await?,
    })
}

/// The keys of [`items`], sorted.
#[utoipa::path(method(get, post), path = "/settings/keys", tag = "registration: settings",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller")),
    responses((status = 200, body = Keys)))]
pub async fn keys(call: Call) -> Reply {
    let all = everything(&call).await?;
    answer(&Keys {
        result: all.keys().cloned().collect(),
    })
}

/// Every setting the target client sees (what `items` and `keys` answer).
async fn everything(call: &Call) -> Result<Map<String, Value>, RegError> {
    let target = call.target_client()?;
    Ok(call
        .service
        .settings()
        .effective(&call.ctx, &call.app_id, &target, None)
        .await?)
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
) -> Result<Committed<Vec<(String, bool)>>, RegError> {
    call.service
        .settings()
        .set(&call.ctx, &call.app_id, target, items)
        .await
        .map_err(RegError::with(names))
}

async fn delete_in(call: &Call, target: SettingsTarget<'_>) -> Reply {
    let key = call.params.required("key")?.to_owned();
    let existed = call
        .service
        .settings()
        .delete(&call.ctx, &call.app_id, target, &[key])
        .await
        .map_err(RegError::with(ONE))?;
    wrote(existed.map(only_flag))
}

/// `key`, `value`: sets the client's own value; true when the key existed.
#[utoipa::path(method(get, post), path = "/settings/set", tag = "registration: settings",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("key" = String, Query),
        ("value" = String, Query, description = "Text; JSON when it starts with [ or {")),
    responses((status = 200, body = Existed)))]
pub async fn set(call: Call) -> Reply {
    let item = one_item(&call)?;
    let target = call.target_client()?;
    let existed = set_in(&call, SettingsTarget::Client(&target), item, ONE).await?;
    wrote(existed.map(only_flag))
}

/// `items` (JSON object): an object of existed flags.
#[utoipa::path(method(get, post), path = "/settings/set_multi", tag = "registration: settings",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("items" = String, Query, description = "A JSON object: key → value")),
    responses((status = 200, body = ExistedEach)))]
pub async fn set_multi(call: Call) -> Reply {
    let items = call.params.required_object("items")?;
    let target = call.target_client()?;
    let existed = set_in(&call, SettingsTarget::Client(&target), items, ITEMS).await?;
    wrote(existed.map(|existed| ExistedEach {
        result: existed.into_iter().collect(),
    }))
}

/// `key`: deletes the client's own value (the default stays); true when it existed.
#[utoipa::path(method(get, post), path = "/settings/delete", tag = "registration: settings",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("key" = String, Query)),
    responses((status = 200, body = Existed)))]
pub async fn delete(call: Call) -> Reply {
    let target = call.target_client()?;
    delete_in(&call, SettingsTarget::Client(&target)).await
}

/// `key`: the application default, or null.
#[utoipa::path(method(get, post), path = "/settings/get_default", tag = "registration: settings",
    params(("key" = String, Query)),
    responses((status = 200, body = Found)))]
pub async fn get_default(call: Call) -> Reply {
    let key = call.params.required("key")?.to_owned();
    let mut found = call
        .service
        .settings()
        .of(
            &call.ctx,
            &call.app_id,
            SettingsTarget::Defaults,
            Some(std::slice::from_ref(&key)),
        )
        .await
        .map_err(RegError::with(ONE))?;
    answer(&Found {
        result: found.remove(&key).unwrap_or(Value::Null),
    })
}

#[utoipa::path(method(get, post), path = "/settings/set_default", tag = "registration: settings",
    params(("key" = String, Query),
        ("value" = String, Query, description = "Text; JSON when it starts with [ or {")),
    responses((status = 200, body = Existed)))]
pub async fn set_default(call: Call) -> Reply {
    let item = one_item(&call)?;
    let existed = set_in(&call, SettingsTarget::Defaults, item, ONE).await?;
    wrote(existed.map(only_flag))
}

#[utoipa::path(method(get, post), path = "/settings/set_default_multi", tag = "registration: settings",
    params(("items" = String, Query, description = "A JSON object: key → value")),
    responses((status = 200, body = ExistedEach)))]
pub async fn set_default_multi(call: Call) -> Reply {
    let items = call.params.required_object("items")?;
    let existed = set_in(&call, SettingsTarget::Defaults, items, ITEMS).await?;
    wrote(existed.map(|existed| ExistedEach {
        result: existed.into_iter().collect(),
    }))
}

#[utoipa::path(method(get, post), path = "/settings/delete_default", tag = "registration: settings",
    params(("key" = String, Query)),
    responses((status = 200, body = Existed)))]
pub async fn delete_default(call: Call) -> Reply {
    delete_in(&call, SettingsTarget::Defaults).await
}

/// Every client's own values (clients with none are left out) and the defaults.
#[utoipa::path(method(get, post), path = "/settings/get_all", tag = "registration: settings",
        responses((status = 200, body = AllSettings)))]
pub async fn get_all(call: Call) -> Reply {
    let all = call.service.settings().all(&call.ctx, &call.app_id).await?;
    let clients: Map<String, Value> = all
        .clients
        .into_iter()
        .map(|(id, values)| (id, Value::Object(values)))
        .collect();
    answer(&AllSettings {
        client_settings: clients,
        default_settings: all.defaults,
    })
}

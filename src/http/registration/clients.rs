//! `clients/*`: the vendor's legacy client-management calls, over the same use cases as the
//! Config API's `/config/{appId}/clients…`.

use serde_json::{Map, Value};

use super::{reply, ArgNames, Call, RegError, Reply};
use crate::domain::AllowList;
use crate::service::{ClientChange, ClientDraft, ClientView};

/// A client as the Registration API shows it. No secret: secrets are stored hashed, so only the
/// calls that mint one (`add`, `reset_secret`) show it, and `list` for `show_secrets`
/// applications.
fn client_json(c: ClientView) -> Map<String, Value> {
    Map::from_iter([
        ("client_id".to_owned(), Value::from(c.client_id)),
        ("description".to_owned(), Value::from(c.name)),
        ("features".to_owned(), Value::from(c.features)),
        ("whitelist".to_owned(), Value::from(c.ip_whitelist)),
    ])
}

/// `description` (the name, required), `features` and `whitelist` (JSON arrays, optional).
pub async fn add(call: Call) -> Reply {
    let draft = ClientDraft {
        name: call.params.required("description")?.to_owned(),
        features: call.params.string_list("features")?.unwrap_or_default(),
        ip_whitelist: call.params.string_list("whitelist")?,
    };
    let created = call
        .service
        .create_client(&call.ctx, &call.app_id, draft)
        .await?;
    let mut fields = client_json(created.client);
    fields.insert("client_secret".into(), Value::String(created.secret));
    Ok(fields)
}

/// `has_features` (JSON array; clients having any of them). The PHP library sends it as
/// `features`, which is accepted too; giving both is refused.
pub async fn list(call: Call) -> Reply {
    let (filter, name) = match (
        call.params.string_list("has_features")?,
        call.params.string_list("features")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(RegError::Duplicate {
                argument: "has_features".into(),
                alias: Some("features"),
            })
        }
        (Some(f), None) => (f, "has_features"),
        (None, Some(f)) => (f, "features"),
        (None, None) => (Vec::new(), "has_features"),
    };
    let clients = call
        .service
        .list_clients(&call.ctx, &call.app_id, &filter)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.features(name)))?;
    // `client_secret` as the vendor lists it, where the application shows secrets.
    let ids: Vec<String> = clients.iter().map(|c| c.client_id.clone()).collect();
    let shown = call
        .service
        .shown_secrets(&call.ctx, &call.app_id, &ids)
        .await?;
    reply([(
        "results",
        Value::Array(
            clients
                .into_iter()
                .map(|c| {
                    let secret = shown.get(&c.client_id);
                    let mut fields = client_json(c);
                    if let Some(secret) = secret {
                        fields.insert("client_secret".into(), Value::String(secret));
                    }
                    Value::Object(fields)
                })
                .collect(),
        ),
    )])
}

pub async fn delete(call: Call) -> Reply {
    const TARGET: &str = "client_id_for_deletion";
    let target = call.params.required(TARGET)?;
    call.service
        .delete_client(&call.ctx, &call.app_id, target, None)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.target(TARGET)))?;
    reply([])
}

/// Applies a partial change to `for_client_id` (default: the caller).
async fn change(call: &Call, change: ClientChange) -> Result<(), RegError> {
    let target = call.target_client()?;
    call.service
        .update_client(&call.ctx, &call.app_id, &target, change, None)
        .await?;
    Ok(())
}

/// `features` (JSON array, required) replaces the whole list.
pub async fn set_features(call: Call) -> Reply {
    let features = call.params.required_string_list("features")?;
    change(
        &call,
        ClientChange {
            features: Some(features),
            ..Default::default()
        },
    )
    .await?;
    reply([])
}

/// `whitelist` (JSON array of CIDR blocks, required) replaces the allow list.
pub async fn set_whitelist(call: Call) -> Reply {
    let whitelist = call.params.required_string_list("whitelist")?;
    change(
        &call,
        ClientChange {
            ip_whitelist: Some(whitelist),
            ..Default::default()
        },
    )
    .await?;
    reply([])
}

/// Resets the allow list to the default, `["0.0.0.0/0"]`.
pub async fn clear_whitelist(call: Call) -> Reply {
    change(
        &call,
        ClientChange {
            ip_whitelist: Some(AllowList::default().strings()),
            ..Default::default()
        },
    )
    .await?;
    reply([])
}

/// `description` (required): renames the client.
pub async fn set_description(call: Call) -> Reply {
    let name = call.params.required("description")?.to_owned();
    change(
        &call,
        ClientChange {
            name: Some(name),
            ..Default::default()
        },
    )
    .await?;
    reply([])
}

/// `hours_to_live` (0–168, required): how long the old secret keeps working.
pub async fn reset_secret(call: Call) -> Reply {
    const HOURS: &str = "hours_to_live";
    let hours = call.params.required_integer(HOURS)?;
    let target = call.target_client()?;
    let rotated = call
        .service
        .rotate_secret(&call.ctx, &call.app_id, &target, hours, HOURS, None)
        .await?;
    reply([("new_secret", Value::String(rotated.secret))])
}

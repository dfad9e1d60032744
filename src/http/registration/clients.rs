//! `clients/*`: the vendor's legacy client-management calls, over the same use cases as the
//! Config API's `/config/{appId}/clients…`.

use serde::Serialize;
use utoipa::ToSchema;

use super::{wrote, ArgNames, Call, Done, RegError, Reply};
use crate::domain::ids::Named;
use crate::domain::AllowList;
use crate::service::{ClientChange, ClientDraft, ClientView};

/// A client as the Registration API shows it. No secret: secrets are stored hashed, so only the
/// calls that mint one (`add`, `reset_secret`) show it, and `list` for `show_secrets`
/// applications.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationClient)]
pub struct RegClient {
    client_id: String,
    /// The client's name.
    description: String,
    #[schema(schema_with = crate::http::schemas::feature_list)]
    features: Vec<String>,
    whitelist: Vec<String>,
    /// `clients/list` of a `show_secrets` application only (each read audited).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl From<ClientView> for RegClient {
    fn from(c: ClientView) -> Self {
        Self {
            client_id: c.client_id,
            description: c.name,
            features: c.features,
            whitelist: c.ip_whitelist,
            client_secret: None,
        }
    }
}

/// `clients/add`: the new client and its secret (shown only here).
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationAddedClient)]
pub struct Added {
    #[serde(flatten)]
    client: RegClient,
    client_secret: String,
}

/// `clients/list`.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationClientList)]
pub struct ClientList {
    results: Vec<RegClient>,
}

/// `clients/reset_secret`: the new secret (shown only here).
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationNewSecret)]
pub struct NewSecret {
    new_secret: String,
}

/// `description` (the name, required), `features` and `whitelist` (JSON arrays, optional).
#[utoipa::path(method(get, post), path = "/clients/add", tag = "registration: clients",
    params(("description" = String, Query, description = "The client's name"),
        ("features" = Option<String>, Query, description = "A JSON array of feature names"),
        ("whitelist" = Option<String>, Query, description = "A JSON array of CIDR blocks; default [\"0.0.0.0/0\"]")),
    responses((status = 200, body = Added)))]
pub async fn add(call: Call) -> Reply {
    let draft = ClientDraft {
        name: call.params.required("description")?.to_owned(),
        features: call.params.string_list("features")?.unwrap_or_default(),
        ip_whitelist: call.params.string_list("whitelist")?,
    };
    let created = call
        .service
        .clients()
        .create(&call.ctx, &call.app_id, draft)
        .await?;
    wrote(created.map(|created| Added {
        client: created.client.into(),
        client_secret: created.secret,
    }))
}

/// `has_features` (JSON array; clients having any of them). The PHP library sends it as
/// `features`, which is accepted too; giving both is refused.
#[utoipa::path(method(get, post), path = "/clients/list", tag = "registration: clients",
    params(("has_features" = Option<String>, Query, description = "A JSON array of feature names: clients having any of them"),
        ("features" = Option<String>, Query, description = "Another name for has_features (give one)")),
    responses((status = 200, body = ClientList)))]
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
        .clients()
        .list(&call.ctx, &call.app_id, &filter)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.features(name)))?;
    // `client_secret` as the vendor lists it, where the application shows secrets.
    let ids: Vec<String> = clients.iter().map(|c| c.client_id.clone()).collect();
    let shown = call
        .service
        .shown_secrets(&call.ctx, &call.app_id, &ids)
        .await?;
    wrote(shown.map(|shown| {
        ClientList {
            results: clients
                .into_iter()
                .map(|c| {
                    let secret = shown.get(&c.client_id);
                    RegClient {
                        client_secret: secret,
                        ..RegClient::from(c)
                    }
                })
                .collect(),
        }
    }))
}

#[utoipa::path(method(get, post), path = "/clients/delete", tag = "registration: clients",
    params(("client_id_for_deletion" = String, Query)),
    responses((status = 200, body = Done)))]
pub async fn delete(call: Call) -> Reply {
    const TARGET: &str = "client_id_for_deletion";
    let target = call.params.required(TARGET)?;
    let done = call
        .service
        .clients()
        .delete(&call.ctx, &call.app_id, &Named::parse(target), None)
        .await
        .map_err(RegError::with(ArgNames::DEFAULT.target(TARGET)))?;
    wrote(done.map(|()| Done {}))
}

/// Applies a partial change to `for_client_id` (default: the caller).
async fn change(call: &Call, change: ClientChange) -> Reply {
    let target = call.target_client()?;
    let changed = call
        .service
        .clients()
        .update(&call.ctx, &call.app_id, &target, change, None)
        .await?;
    wrote(changed.map(|_| Done {}))
}

/// `features` (JSON array, required) replaces the whole list.
#[utoipa::path(method(get, post), path = "/clients/set_features", tag = "registration: clients",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("features" = String, Query, description = "A JSON array of feature names: the whole new list")),
    responses((status = 200, body = Done)))]
pub async fn set_features(call: Call) -> Reply {
    let features = call.params.required_string_list("features")?;
    change(
        &call,
        ClientChange {
            features: Some(features),
            ..Default::default()
        },
    )
    .await
}

/// `whitelist` (JSON array of CIDR blocks, required) replaces the allow list.
#[utoipa::path(method(get, post), path = "/clients/set_whitelist", tag = "registration: clients",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("whitelist" = String, Query, description = "A JSON array of CIDR blocks: the whole new list")),
    responses((status = 200, body = Done)))]
pub async fn set_whitelist(call: Call) -> Reply {
    let whitelist = call.params.required_string_list("whitelist")?;
    change(
        &call,
        ClientChange {
            ip_whitelist: Some(whitelist),
            ..Default::default()
        },
    )
    .await
}

/// Resets the allow list to the default, `["0.0.0.0/0"]`.
#[utoipa::path(method(get, post), path = "/clients/clear_whitelist", tag = "registration: clients",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller")),
    responses((status = 200, body = Done)))]
pub async fn clear_whitelist(call: Call) -> Reply {
    change(
        &call,
        ClientChange {
            ip_whitelist: Some(AllowList::default().strings()),
            ..Default::default()
        },
    )
    .await
}

/// `description` (required): renames the client.
#[utoipa::path(method(get, post), path = "/clients/set_description", tag = "registration: clients",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("description" = String, Query, description = "The new name")),
    responses((status = 200, body = Done)))]
pub async fn set_description(call: Call) -> Reply {
    let name = call.params.required("description")?.to_owned();
    change(
        &call,
        ClientChange {
            name: Some(name),
            ..Default::default()
        },
    )
    .await
}

/// `hours_to_live` (0–168, required): how long the old secret keeps working.
#[utoipa::path(method(get, post), path = "/clients/reset_secret", tag = "registration: clients",
    params(("for_client_id" = Option<String>, Query, description = "The client acted on; default: the caller"),
        ("hours_to_live" = String, Query, description = "0 to 168: how long the old secret keeps working")),
    responses((status = 200, body = NewSecret)))]
pub async fn reset_secret(call: Call) -> Reply {
    const HOURS: &str = "hours_to_live";
    let hours = call.params.required_integer(HOURS)?;
    let target = call.target_client()?;
    let rotated = call
        .service
        .clients()
        .rotate_secret(&call.ctx, &call.app_id, &target, hours, None)
        .await?;
    wrote(rotated.map(|rotated| NewSecret {
        new_secret: rotated.secret,
    }))
}

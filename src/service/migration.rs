//! Leaving the vendor (issue #18): import an application read from the vendor
//! ([`super::vendor`]) and compare both sides afterwards. Operator only.
//!
//! The import lays the vendor's application over the Latchkey one as a fixture would
//! (`fixtures::apply_checked`: one transaction, one audit event per real difference), with one
//! `app.import` event for the pass and its counts. The rules:
//! * client ids are kept; a secret is kept where the vendor disclosed it (`_secret`), otherwise
//!   the new client gets a new one (in the report, once);
//! * `metadata` is kept (the import runs as the operator, who may grant it) and named in the
//!   `app.import` event;
//! * entity types are copied as the vendor defines them;
//! * a client's access schema for a type and access type is the set of attributes the vendor
//!   shows it (`entityType.getAccessSchema`): none when it sees the whole type.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Map, Value};

use super::app_state::AppState;
use super::entity_types::{entity_type_from_json, stored_json};
use super::fixtures::{ApplyOptions, ApplyReport, ImportNote};
use super::vendor::{VendorApp, VendorClient};
use super::{
    AuthError, Committed, Latchkey, Operation, RequestContext, ServiceError, SignedRequest,
    StagingError, StagingService,
};
use crate::auth::signature::{authorization, string_to_sign, DATE_FORMAT};
use crate::auth::Credentials;
use crate::domain::allow_list::parse_cidr;
use crate::domain::entity_type::{
    is_reserved, leaf_paths, parse_attr_defs, stored_schema, EntityType,
};
use crate::domain::fixture::{self, FixtureError};
use crate::domain::ids::{AppId, Named};
use crate::store;

/// One thing that differs between the vendor and Latchkey (`null`: absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// `name`, `features`, `allow list`, `settings`, `access schema user read`, …
    pub part: String,
    pub vendor: Value,
    pub latchkey: Value,
}

/// Whether a client's disclosed secret authenticates at Latchkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    /// One real authentication with it succeeded (and a signed one too, where the application
    /// takes signed requests).
    Authenticates,
    Refused,
    /// The vendor did not disclose it: nothing to check.
    NotDisclosed,
    /// Not checked (`sync` passes, or the client is missing).
    Unchecked,
}

impl SecretCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretCheck::Authenticates => "authenticates",
            SecretCheck::Refused => "refused",
            SecretCheck::NotDisclosed => "not disclosed",
            SecretCheck::Unchecked => "not checked",
        }
    }
}

/// One client, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientComparison {
    pub client_id: String,
    /// The name on the vendor's side (Latchkey's for a client only Latchkey has).
    pub name: String,
    /// How many (type, access type) views were compared.
    pub schemas: usize,
    pub differences: Vec<Difference>,
    pub secret: SecretCheck,
}

impl ClientComparison {
    pub fn agrees(&self) -> bool {
        self.differences.is_empty() && self.secret != SecretCheck::Refused
    }
}

/// The whole comparison: the application's own parts, then each client.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Application settings and entity types.
    pub application: Vec<Difference>,
    pub entity_types: usize,
    pub clients: Vec<ClientComparison>,
}

impl Comparison {
    pub fn agrees(&self) -> bool {
        self.application.is_empty() && self.clients.iter().all(ClientComparison::agrees)
    }

    /// Differences in all, a refused secret counting as one.
    pub fn difference_count(&self) -> usize {
        self.application.len()
            + self
                .clients
                .iter()
                .map(|c| c.differences.len() + usize::from(c.secret == SecretCheck::Refused))
                .sum::<usize>()
    }
}

/// A vendor type as Latchkey stores it (reserved attributes dropped), or why it cannot be.
fn vendor_type(name: &str, attr_defs: &Value) -> Result<EntityType, FixtureError> {
    parse_attr_defs(attr_defs)
        .map(|defs| EntityType::new(name.to_owned(), defs))
        .map_err(|e| FixtureError::new(format!("entity type {name}: attr_defs"), e))
}

/// The schema that gives `view` (leaf paths of what the client sees) on `et`: `None` when the
/// client sees the whole type.
fn schema_of(et: &EntityType, view: &[String]) -> Option<Vec<String>> {
    if view == leaf_paths(&et.attr_defs()).as_slice() {
        return None;
    }
    Some(view.iter().filter(|p| !is_reserved(p)).cloned().collect())
}

/// The fixture document of a vendor application.
fn document(vendor: &VendorApp) -> Result<Value, FixtureError> {
    let mut types = BTreeMap::new();
    for t in &vendor.types {
        types.insert(t.name.as_str(), vendor_type(&t.name, &t.attr_defs)?);
    }
    let clients: Vec<Value> = vendor
        .clients
        .iter()
        .map(|c| {
            let schemas: Vec<Value> = c
                .views
                .iter()
                .filter_map(|((type_name, access), view)| {
                    let attributes = schema_of(types.get(type_name.as_str())?, view)?;
                    Some(json!({
                        "entityType": type_name,
                        "accessType": access.as_str(),
                        "attributes": attributes,
                    }))
                })
                .collect();
            let mut body = Map::new();
            body.insert("_id".into(), json!(c.id));
            if let Some(secret) = &c.secret {
                body.insert("_secret".into(), json!(secret));
            }
            body.insert("name".into(), c.name.clone());
            body.insert("features".into(), c.features.clone());
            if !c.ip_whitelist.is_null() {
                body.insert("ipWhitelist".into(), c.ip_whitelist.clone());
            }
            body.insert("settings".into(), Value::Object(c.settings.clone()));
            body.insert("accessSchemas".into(), Value::Array(schemas));
            Value::Object(body)
        })
        .collect();
    let types: Vec<Value> = vendor
        .types
        .iter()
        .map(|t| json!({"name": t.name, "attr_defs": t.attr_defs}))
        .collect();
    Ok(json!({
        "settings": vendor.settings,
        "entityTypes": types,
        "clients": clients,
    }))
}

/// A fixture path (`clients[2].features[0]`) in the vendor's terms (`client {id}: features[0]`).
fn in_vendor_terms(e: FixtureError, vendor: &VendorApp) -> FixtureError {
    let rename = |prefix: &str, rest: &str, names: &dyn Fn(usize) -> Option<String>| {
        let (index, tail) = rest.split_once(']')?;
        let label = names(index.parse().ok()?)?;
        let tail = tail.trim_start_matches('.');
        Some(if tail.is_empty() {
            format!("{prefix} {label}")
        } else {
            format!("{prefix} {label}: {tail}")
        })
    };
    let path = if let Some(rest) = e.path.strip_prefix("clients[") {
        rename("client", rest, &|i| {
            vendor.clients.get(i).map(|c| c.id.clone())
        })
    } else if let Some(rest) = e.path.strip_prefix("entityTypes[") {
        rename("entity type", rest, &|i| {
            vendor.types.get(i).map(|t| t.name.clone())
        })
    } else {
        e.path
            .strip_prefix("settings")
            .map(|rest| format!("application settings{rest}"))
    };
    FixtureError {
        path: path.unwrap_or(e.path),
        message: e.message,
    }
}

fn sorted_strings(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut names: Vec<Value> = items.clone();
            names.sort_by_key(|v| v.to_string());
            Value::Array(names)
        }
        other => other.clone(),
    }
}

/// An allow list as Latchkey shows it (`10.0.0.1` → `10.0.0.1/32`); the vendor's default when
/// it sent none.
fn canonical_allow_list(v: &Value) -> Value {
    match v {
        Value::Null => json!(["0.0.0.0/0"]),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| match i.as_str().map(parse_cidr) {
                    Some(Ok(net)) => json!(net.to_string()),
                    _ => i.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn differ(out: &mut Vec<Difference>, part: impl Into<String>, vendor: Value, latchkey: Value) {
    if vendor != latchkey {
        out.push(Difference {
            part: part.into(),
            vendor,
            latchkey,
        });
    }
}

impl StagingService<'_> {
    /// Imports a vendor application into `app_id` (see the module documentation). `source`:
    /// the vendor's address, for the audit event. Nothing is written when anything is refused.
    pub async fn import_vendor_app(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        source: &str,
        vendor: &VendorApp,
        options: ApplyOptions,
    ) -> Result<Committed<ApplyReport>, StagingError> {
        ctx.operator()?;
        let named = |e: FixtureError| StagingError::Fixture(in_vendor_terms(e, vendor));
        let doc = document(vendor)?;
        let checked = fixture::parse(&doc).map_err(named)?;
        let note = ImportNote {
            source: source.to_owned(),
            clients: vendor.clients.len(),
            entity_types: vendor.types.len(),
            access_schemas: checked
                .clients
                .iter()
                .map(|c| c.access_schemas.as_ref().map_or(0, Vec::len))
                .sum(),
            metadata_clients: vendor
                .clients
                .iter()
                .filter(|c| {
                    c.features
                        .as_array()
                        .is_some_and(|f| f.iter().any(|n| n == "metadata"))
                })
                .map(|c| c.id.clone())
                .collect(),
        };
        self.apply_checked(ctx, app_id, &checked, options, Some(&note))
            .await
            .map_err(|e| match e {
                StagingError::Fixture(f) => named(f),
                other => other,
            })
    }
}

/// The comparison stays on `Latchkey`: checking a disclosed secret is a real authentication
/// (`authenticate`, `authenticate_signed`), which the staging area does not hold.
impl Latchkey {
    /// Compares a vendor application with `app_id` at Latchkey, client by client. With
    /// `check_secrets`, each disclosed secret is used once to authenticate at Latchkey (with
    /// HTTP Basic, and signed where the application takes signed requests).
    pub async fn compare_with_vendor(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        vendor: &VendorApp,
        check_secrets: bool,
    ) -> Result<Comparison, StagingError> {
        let app = self.apps().get(ctx, app_id).await?;
        let state =
            AppState::from_rows(&store::app_snapshots::capture(&self.pool, app_id.as_str()).await?);

        let mut application = Vec::new();
        differ(
            &mut application,
            "application settings",
            Value::Object(vendor.settings.clone()),
            Value::Object(state.defaults.clone()),
        );
        let mut ours: BTreeMap<&str, EntityType> = BTreeMap::new();
        for (name, defs) in &state.types {
            ours.insert(name, entity_type_from_json(name, defs.clone())?);
        }
        let mut theirs: BTreeSet<&str> = BTreeSet::new();
        for t in &vendor.types {
            theirs.insert(&t.name);
            let vendor_defs = vendor_type(&t.name, &t.attr_defs)
                .map(|et| stored_json(&et))
                .unwrap_or_else(|_| t.attr_defs.clone());
            let latchkey_defs = ours.get(t.name.as_str()).map(stored_json);
            differ(
                &mut application,
                format!("entity type {}", t.name),
                vendor_defs,
                latchkey_defs.unwrap_or(Value::Null),
            );
        }
        for (name, et) in &ours {
            if !theirs.contains(name) {
                differ(
                    &mut application,
                    format!("entity type {name}"),
                    Value::Null,
                    stored_json(et),
                );
            }
        }

        let mut clients = Vec::new();
        for c in &vendor.clients {
            clients.push(
                self.compare_client(app_id, &app, &state, &ours, c, check_secrets)
                    .await?,
            );
        }
        let known: BTreeSet<&str> = vendor.clients.iter().map(|c| c.id.as_str()).collect();
        for c in state
            .clients
            .iter()
            .filter(|c| !known.contains(c.id.as_str()))
        {
            clients.push(ClientComparison {
                client_id: c.id.clone(),
                name: c.name.clone(),
                schemas: 0,
                differences: vec![Difference {
                    part: "client".into(),
                    vendor: Value::Null,
                    latchkey: json!(c.name),
                }],
                secret: SecretCheck::Unchecked,
            });
        }
        Ok(Comparison {
            application,
            entity_types: vendor.types.len(),
            clients,
        })
    }

    async fn compare_client(
        &self,
        app_id: &Named<AppId>,
        app: &super::AppSummary,
        state: &AppState,
        types: &BTreeMap<&str, EntityType>,
        c: &VendorClient,
        check_secrets: bool,
    ) -> Result<ClientComparison, StagingError> {
        let name = c.name.as_str().unwrap_or_default().to_owned();
        let Some(ours) = state.clients.iter().find(|o| o.id == c.id) else {
            return Ok(ClientComparison {
                client_id: c.id.clone(),
                name,
                schemas: 0,
                differences: vec![Difference {
                    part: "client".into(),
                    vendor: c.name.clone(),
                    latchkey: Value::Null,
                }],
                secret: SecretCheck::Unchecked,
            });
        };
        let mut differences = Vec::new();
        let d = &mut differences;
        differ(d, "name", c.name.clone(), json!(ours.name));
        differ(
            d,
            "features",
            sorted_strings(&c.features),
            sorted_strings(&json!(ours.features)),
        );
        differ(
            d,
            "allow list",
            canonical_allow_list(&c.ip_whitelist),
            json!(ours.ip_whitelist),
        );
        differ(
            d,
            "settings",
            Value::Object(c.settings.clone()),
            Value::Object(ours.settings.clone()),
        );
        for ((type_name, access), view) in &c.views {
            let seen = types.get(type_name.as_str()).map(|et| {
                let key = (c.id.clone(), type_name.clone(), access.as_str().to_owned());
                let defs = match state.schemas.get(&key) {
                    Some(list) => et.restricted(&stored_schema(list)),
                    None => et.attr_defs(),
                };
                leaf_paths(&defs)
            });
            differ(
                d,
                format!("access schema {type_name} {}", access.as_str()),
                json!(view),
                seen.map_or(Value::Null, |s| json!(s)),
            );
        }
        let secret = match (&c.secret, check_secrets) {
            (None, _) => SecretCheck::NotDisclosed,
            (Some(_), false) => SecretCheck::Unchecked,
            (Some(secret), true) => self.secret_check(app_id, app, &c.id, secret).await?,
        };
        Ok(ClientComparison {
            client_id: c.id.clone(),
            name,
            schemas: c.views.len(),
            differences,
            secret,
        })
    }

    /// One real authentication with the imported secret, as a caller of the server would make
    /// it (Basic), and a signed read where the application takes signed requests. The allow
    /// list is not the question here: a refusal by it still means the secret was right.
    async fn secret_check(
        &self,
        app_id: &Named<AppId>,
        app: &super::AppSummary,
        client_id: &str,
        secret: &str,
    ) -> Result<SecretCheck, StagingError> {
        let here = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let accepted = |r: Result<(), AuthError>| match r {
            Ok(()) | Err(AuthError::IpNotAllowed) => Ok(true),
            Err(AuthError::BadCredentials | AuthError::RateLimited { .. }) => Ok(false),
            Err(AuthError::Unavailable) => Err(ServiceError::Unavailable),
            Err(e) => Err(ServiceError::Internal(e.to_string())),
        };
        let basic = self
            .authenticate(
                Some(app_id.as_str()),
                Some(Credentials::Client {
                    client_id: client_id.to_owned(),
                    secret: secret.to_owned(),
                }),
                here,
            )
            .await
            .map(|_| ());
        if !accepted(basic)? {
            return Ok(SecretCheck::Refused);
        }
        if app.signed_requests {
            let date = chrono::Utc::now().format(DATE_FORMAT).to_string();
            let message = string_to_sign("/settings/items", &date, []);
            let Some(auth) = authorization(client_id, secret, &message) else {
                return Ok(SecretCheck::Refused);
            };
            let signed = self
                .authenticate_signed(
                    SignedRequest {
                        authorization: &auth,
                        date: Some(&date),
                        path: "/settings/items",
                        params: vec![],
                        operation: Operation::Read,
                    },
                    here,
                )
                .await
                .map(|_| ());
            let signed = match signed {
                Err(super::SignatureError::Auth(e)) => Err(e),
                Err(_) => Err(AuthError::BadCredentials),
                Ok(()) => Ok(()),
            };
            if !accepted(signed)? {
                return Ok(SecretCheck::Refused);
            }
        }
        Ok(SecretCheck::Authenticates)
    }
}

//! Access schemas (`/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{read|write}`)
//! and the access decision (`POST /config/{appId}/access/check`).

use std::net::IpAddr;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::fields::{optional_string, required_string, required_string_list};
use super::{ConfigError, ConfigRequest, ErrorBody, JsonBody};
use crate::domain::access::{AccessType, Reason, RecordScope};
use crate::domain::entity_type::SchemaError;
use crate::domain::ids::Named;
use crate::domain::ValidationError;
use crate::service::{AccessCheck, AccessSchemaView, Consistency, SchemaKey, ServiceError};

type SchemaPath = web::Path<(String, String, String, String)>;

/// An access schema: the attribute paths a client may use (`a.b`, `/a.b` or `/a/b` on input;
/// answered as `a.b`, the reserved `id`, `uuid`, `created`, `lastUpdated` first).
#[derive(Serialize, ToSchema)]
#[schema(as = AccessSchema)]
pub struct SchemaBody {
    #[schema(example = json!(["email", "primaryAddress.city"]))]
    attributes: Vec<String>,
}

/// The question an identity backend asks (`POST …/access/check`). Other fields are ignored.
#[derive(ToSchema)]
#[schema(as = AccessCheckInput)]
pub struct CheckFields {
    #[serde(rename = "clientId")]
    client_id: String,
    /// When given, the secret is verified (`bad_credentials` otherwise).
    #[serde(rename = "clientSecret")]
    client_secret: Option<String>,
    /// When given, the client's allow list is applied (`ip_not_allowed`).
    #[serde(rename = "sourceIp")]
    #[schema(schema_with = crate::http::schemas::optional_ip_address)]
    source_ip: Option<IpAddr>,
    #[serde(rename = "entityType")]
    entity_type: String,
    #[schema(schema_with = crate::http::schemas::access_type)]
    access: AccessType,
    attributes: Vec<String>,
    #[schema(schema_with = crate::http::schemas::record)]
    record: RecordScope,
    /// `"minimize_latency"` (default: this instance's snapshot), `"fully_consistent"` (the
    /// database) or `{"atLeastAsFresh": "<revision>"}`.
    #[schema(schema_with = crate::http::schemas::consistency)]
    consistency: Option<Consistency>,
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

/// The schema a path names: client, type and a parsed access type (`Not a valid access type.`).
fn schema_key(path: SchemaPath) -> Result<SchemaKey, ConfigError> {
    let (_, client_id, type_name, access_type) = path.into_inner();
    Ok(SchemaKey {
        access_type: access_type.parse().map_err(invalid)?,
        client_id: Named::parse(&client_id),
        type_name: Named::parse(&type_name),
    })
}

/// The attributes the client may use for this access type.
#[utoipa::path(get, path = "/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{accessType}",
    tag = "access schemas",
    params(("appId" = String, Path), ("clientId" = String, Path), ("typeName" = String, Path),
        ("accessType" = String, Path)),
    responses((status = 200, body = SchemaBody),
        (status = 400, body = ErrorBody, description = "`Not a valid access type.`"),
        (status = 404, body = ErrorBody, description = "No such client, type or schema")))]
pub async fn get(r: ConfigRequest, path: SchemaPath) -> Result<HttpResponse, ConfigError> {
    let schema = schema_key(path)?;
    let view = r
        .service
        .access_schemas()
        .get(&r.ctx, &r.app_id, &schema)
        .await?;
    Ok(HttpResponse::Ok().json(SchemaBody::new(&view)))
}

/// Replaces the list; the answer is the list as stored (canonical paths, the reserved
/// attributes first).
#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{accessType}",
    tag = "access schemas",
    params(("appId" = String, Path), ("clientId" = String, Path), ("typeName" = String, Path),
        ("accessType" = String, Path)),
    request_body = SchemaBody,
    responses((status = 200, body = SchemaBody),
        (status = 400, body = ErrorBody, description = "`Not a valid access type.`, or an attribute path the type does not have"),
        (status = 404, body = ErrorBody, description = "No such client or type")))]
pub async fn set(
    r: ConfigRequest,
    path: SchemaPath,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let attributes = required_string_list(&body.0, "attributes").map_err(invalid)?;
    let schema = schema_key(path)?;
    let view = r
        .service
        .access_schemas()
        .set(&r.ctx, &r.app_id, &schema, &attributes)
        .await?;
    Ok(r.answer(view, |view| HttpResponse::Ok().json(SchemaBody::new(&view))))
}

/// Removes the restriction: the client's features alone decide.
#[utoipa::path(delete, path = "/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{accessType}",
    tag = "access schemas",
    params(("appId" = String, Path), ("clientId" = String, Path), ("typeName" = String, Path),
        ("accessType" = String, Path)),
    responses((status = 204, description = "Removed (or there was none)"),
        (status = 400, body = ErrorBody, description = "`Not a valid access type.`"),
        (status = 404, body = ErrorBody, description = "No such client or type")))]
pub async fn delete(r: ConfigRequest, path: SchemaPath) -> Result<HttpResponse, ConfigError> {
    let schema = schema_key(path)?;
    let done = r
        .service
        .access_schemas()
        .delete(&r.ctx, &r.app_id, &schema)
        .await?;
    Ok(r.answer(done, |()| HttpResponse::NoContent().finish()))
}

/// The decision, allowed or not: `{allowed, reason, permitted, denied, updatesLastUpdated,
/// revision}` (the application's revision it was made at),
/// `reason` one of ok, bad_credentials, ip_not_allowed, no_feature, self_only,
/// attribute_not_permitted, unknown_entity_type, unknown_attribute.
#[utoipa::path(post, path = "/config/{appId}/access/check", tag = "access schemas", params(("appId" = String, Path)),
    request_body = CheckFields,
    responses((status = 200, body = serde_json::Value, description = "The decision")))]
pub async fn check(r: ConfigRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let b = &body.0;
    // Checked in this order: the first fault is the one reported.
    let f = CheckFields {
        client_id: required_string(b, "clientId").map_err(invalid)?,
        client_secret: optional_string(b, "clientSecret").map_err(invalid)?,
        source_ip: optional_string(b, "sourceIp")
            .map_err(invalid)?
            .map(|s| {
                s.parse()
                    .map_err(|_| invalid(SchemaError::InvalidIpAddress))
            })
            .transpose()?,
        entity_type: required_string(b, "entityType").map_err(invalid)?,
        access: required_string(b, "access")
            .map_err(invalid)?
            .parse()
            .map_err(invalid)?,
        attributes: required_string_list(b, "attributes").map_err(invalid)?,
        record: required_string(b, "record")
            .map_err(invalid)?
            .parse()
            .map_err(invalid)?,
        consistency: Some(consistency(b.get("consistency")).map_err(invalid)?),
    };
    let check = AccessCheck {
        client_id: Named::parse(&f.client_id),
        client_secret: f.client_secret,
        source_ip: f.source_ip,
        entity_type: Named::parse(&f.entity_type),
        access: f.access,
        record: f.record,
        attributes: f.attributes,
    };
    let decided = r
        .service
        .check_access_at(&r.ctx, &r.app_id, check, f.consistency.unwrap_or_default())
        .await?;
    let d = &decided.decision;
    Ok(HttpResponse::Ok().json(DecisionBody {
        allowed: d.allowed,
        denied: &d.denied,
        permitted: &d.permitted,
        reason: d.reason,
        revision: decided.revision,
        updates_last_updated: d.updates_last_updated,
    }))
}

/// The decision's answer, written straight from the decision: its members in the order the
/// answer always had (alphabetical: it used to be built as a `serde_json::Value` map, then the
/// revision added), the revision as a string.
#[derive(Serialize)]
struct DecisionBody<'a> {
    allowed: bool,
    denied: &'a [String],
    permitted: &'a [String],
    reason: Reason,
    #[serde(serialize_with = "as_string")]
    revision: i64,
    #[serde(rename = "updatesLastUpdated")]
    updates_last_updated: bool,
}

fn as_string<S: serde::Serializer>(n: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}

/// `"minimize_latency"`, `"fully_consistent"` or `{"atLeastAsFresh": "<revision>"}` (the
/// revision as a string, as `X-Latchkey-Revision` gives it, or as a number).
fn consistency(value: Option<&Value>) -> Result<Consistency, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(Consistency::MinimizeLatency),
        Some(Value::String(s)) if s == "minimize_latency" => Ok(Consistency::MinimizeLatency),
        Some(Value::String(s)) if s == "fully_consistent" => Ok(Consistency::FullyConsistent),
        Some(Value::Object(o)) if o.len() == 1 => {
            let revision = match o.get("atLeastAsFresh") {
                Some(Value::String(s)) => s.parse::<i64>().ok(),
                Some(Value::Number(n)) => n.as_i64(),
                _ => None,
            };
            revision
                .filter(|r| *r >= 0)
                .map(Consistency::AtLeastAsFresh)
                .ok_or(ValidationError::InvalidConsistency)
        }
        Some(_) => Err(ValidationError::InvalidConsistency),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn consistency_forms() {
        assert_eq!(consistency(None).unwrap(), Consistency::MinimizeLatency);
        assert_eq!(
            consistency(Some(&json!("fully_consistent"))).unwrap(),
            Consistency::FullyConsistent
        );
        assert_eq!(
            consistency(Some(&json!({"atLeastAsFresh": "12"}))).unwrap(),
            Consistency::AtLeastAsFresh(12)
        );
        assert_eq!(
            consistency(Some(&json!({"atLeastAsFresh": 3}))).unwrap(),
            Consistency::AtLeastAsFresh(3)
        );
        for bad in [
            json!("eventually"),
            json!({"atLeastAsFresh": "x"}),
            json!({"atLeastAsFresh": "-1"}),
            json!({"atLeastAsFresh": "1", "other": 1}),
            json!(5),
        ] {
            assert_eq!(
                consistency(Some(&bad)),
                Err(ValidationError::InvalidConsistency),
                "{bad}"
            );
        }
    }
}

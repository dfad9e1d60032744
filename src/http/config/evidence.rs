//! Audit evidence over HTTP (docs/audit.md, "Signed checkpoints and proofs"):
//!
//! * `GET /config/{appId}/audit/checkpoint`: the newest signed checkpoint, `text/plain`;
//! * `GET /config/{appId}/audit/checkpoints?since=`: the checkpoints made since a time;
//! * `GET /config/{appId}/audit/proof/inclusion?revision=N&size=M` and
//!   `GET /config/{appId}/audit/proof/consistency?from=M1&to=M2`: RFC 6962 proofs;
//! * `GET /audit/keys`: the verifier keys (public).

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ConfigError, ConfigRequest, ErrorBody};
use crate::domain::audit::format_time;
use crate::domain::audit_query::{parse_time, AuditInputError};
use crate::domain::merkle::{Hash, ProofInputError};
use crate::http::HttpState;
use crate::service::ServiceError;

/// The query's parameters, each named at most once and each one of `allowed`.
pub(super) fn params(
    req: &HttpRequest,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, ServiceError> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        let Some(name) = allowed.iter().find(|a| **a == k) else {
            return Err(AuditInputError::UnknownParameter {
                name: k.into_owned(),
            }
            .into());
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(AuditInputError::Repeated {
                name: k.into_owned(),
            }
            .into());
        }
        out.push((name, v.into_owned()));
    }
    Ok(out)
}

pub(super) fn get<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// A whole number from 1 (a revision or a tree size).
fn whole(param: &'static str, raw: &str) -> Result<u64, ServiceError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n >= 1 && *n <= i64::MAX as u64 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(ServiceError::ProofInput(ProofInputError::NotANumber {
            param,
        }))
}

fn required(params: &[(&'static str, String)], name: &'static str) -> Result<u64, ServiceError> {
    whole(name, get(params, name).unwrap_or_default())
}

fn b64(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

/// The newest signed checkpoint: a C2SP signed note whose body is a `tlog-checkpoint`
/// (origin `<host>/audit/<appId>`, tree size, base64 RFC 6962 root).
#[utoipa::path(get, path = "/config/{appId}/audit/checkpoint", tag = "audit",
    params(("appId" = String, Path)),
    responses((status = 200, description = "The signed note", content_type = "text/plain; charset=utf-8", body = String),
        (status = 404, body = ErrorBody, description = "No checkpoint yet")))]
pub async fn checkpoint(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    params(&req, &[])?;
    let cp = r.service.evidence().checkpoint(&r.ctx, &r.app_id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(cp.note))
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointItem {
    tree_size: i64,
    /// The RFC 6962 root, base64.
    root_hash: String,
    /// The id (key hash, hex) of the key that signed it.
    key_id: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// The signed note, exactly as `…/audit/checkpoint` serves it.
    note: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointList {
    checkpoints: Vec<CheckpointItem>,
}

/// Checkpoints made at or after `since` (default: all), oldest first, at most 1000.
#[utoipa::path(get, path = "/config/{appId}/audit/checkpoints", tag = "audit",
    params(("appId" = String, Path),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339, inclusive")),
    responses((status = 200, body = CheckpointList, description = "The checkpoints"),
        (status = 400, body = ErrorBody, description = "A parameter refused")))]
pub async fn checkpoints(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let p = params(&req, &["since"])?;
    let since = get(&p, "since")
        .map(|s| parse_time("since", s))
        .transpose()
        .map_err(ServiceError::from)?;
    let rows = r
        .service
        .evidence()
        .checkpoints(&r.ctx, &r.app_id, since)
        .await?;
    Ok(HttpResponse::Ok().json(CheckpointList {
        checkpoints: rows
            .into_iter()
            .map(|c| CheckpointItem {
                tree_size: c.tree_size,
                root_hash: B64.encode(&c.root_hash),
                key_id: c.key_id,
                created_at: format_time(&c.created_at),
                note: c.note,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct InclusionBody {
    leaf_index: u64,
    tree_size: u64,
    /// The audit path, from the leaf up, base64.
    hashes: Vec<String>,
}

/// The inclusion proof (RFC 6962 §2.1.1) of event `revision` (its `seq`; leaf
/// `revision − 1`) in the tree of `size` events (default: the whole log now).
#[utoipa::path(get, path = "/config/{appId}/audit/proof/inclusion", tag = "audit",
    params(("appId" = String, Path),
        ("revision" = u64, Query, minimum = 1, description = "The event's seq"),
        ("size" = Option<u64>, Query, minimum = 1, description = "Tree size, e.g. a checkpoint's")),
    responses((status = 200, body = InclusionBody, description = "The proof"),
        (status = 400, body = ErrorBody, description = "Revision after size, size beyond the tree, or not a number")))]
pub async fn inclusion(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let p = params(&req, &["revision", "size"])?;
    let revision = required(&p, "revision")?;
    let size = get(&p, "size").map(|s| whole("size", s)).transpose()?;
    let proof = r
        .service
        .evidence()
        .inclusion_proof(&r.ctx, &r.app_id, revision, size)
        .await?;
    Ok(HttpResponse::Ok().json(InclusionBody {
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        hashes: b64(&proof.hashes),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyBody {
    /// base64
    hashes: Vec<String>,
}

/// The consistency proof (RFC 6962 §2.1.2) between the trees of `from` and `to` events.
#[utoipa::path(get, path = "/config/{appId}/audit/proof/consistency", tag = "audit",
    params(("appId" = String, Path),
        ("from" = u64, Query, minimum = 1), ("to" = u64, Query, minimum = 1)),
    responses((status = 200, body = ConsistencyBody, description = "The proof"),
        (status = 400, body = ErrorBody, description = "from after to, to beyond the tree, or not a number")))]
pub async fn consistency(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let p = params(&req, &["from", "to"])?;
    let from = required(&p, "from")?;
    let to = required(&p, "to")?;
    let proof = r
        .service
        .evidence()
        .consistency_proof(&r.ctx, &r.app_id, from, to)
        .await?;
    Ok(HttpResponse::Ok().json(ConsistencyBody {
        hashes: b64(&proof.hashes),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct KeyItem {
    /// The verifier key in signed-note form: `<name>+<key hash>+<base64(0x01 ‖ public key)>`.
    key: String,
    key_id: String,
    /// When it started signing (RFC 3339).
    valid_from: String,
    /// When it was rotated out; absent for the key signing now.
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyItem>,
}

/// The keys that sign (or signed) audit checkpoints, oldest first. Public: no secret in them.
#[utoipa::path(get, path = "/audit/keys", tag = "audit",
    responses((status = 200, body = KeyList, description = "The verifier keys")))]
pub async fn keys(state: web::Data<HttpState>) -> Result<HttpResponse, ConfigError> {
    let keys = state.service.evidence().keys().await?;
    Ok(HttpResponse::Ok().json(KeyList {
        keys: keys
            .into_iter()
            .map(|k| KeyItem {
                key: k.key.encode(),
                key_id: k.key.key_id(),
                valid_from: format_time(&k.valid_from),
                valid_until: k.valid_until.as_ref().map(format_time),
            })
            .collect(),
    }))
}

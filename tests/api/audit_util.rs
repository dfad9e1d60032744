//! Shared by the audit tests: the Config API audit routes and a
//! "database attacker" who bypasses the append-only trigger.

#![allow(dead_code)]

use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

use crate::helpers::*;

/// `GET /config/{appId}/audit?{query}` as the owner: (status, JSON body).
pub async fn audit_get(app: &TestApp, owner: &Owner, query: &str) -> (u16, Value) {
    app.config(owner)
        .get(&format!("/audit?{query}"))
        .await
        .pair()
}

/// The seqs of a page.
pub fn seqs(page: &Value) -> Vec<i64> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {page}"))
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

/// Follows `next` links from `first` (a path with query) to the end; returns every seq seen.
pub async fn all_pages(app: &TestApp, owner: &Owner, first: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(p) = path {
        let page = app.by(owner).get(&p).await.status_is(200);
        out.extend(seqs(&page));
        path = page.get("next").map(|n| n.as_str().unwrap().to_owned());
    }
    out
}

/// Runs SQL as someone with direct database access who switches triggers off (the attacker the
/// hash chain is there to expose).
pub async fn tamper(app: &TestApp, sql: &str) {
    let mut conn = PgConnection::connect(&app.database_url()).await.unwrap();
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn.execute(sql).await.unwrap();
}

/// `GET /config/{appId}/audit/verify` as the owner.
pub async fn verify_http(app: &TestApp, owner: &Owner, query: &str) -> (u16, Value) {
    app.config(owner)
        .get(&format!("/audit/verify?{query}"))
        .await
        .pair()
}

/// A PUT of a client's features (and name) as the owner; asserts 200.
pub async fn set_features(app: &TestApp, owner: &Owner, id: &str, name: &str, features: &[&str]) {
    app.config(owner)
        .put_client(id, &serde_json::json!({"name": name, "features": features}))
        .await
        .status_is(200);
}

/// The head recorded in `audit_heads`, hex.
pub async fn head_hash(app: &TestApp, app_id: &str) -> (i64, String) {
    let (seq, hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    (seq, hex::encode(hash))
}

/// A minimal RFC 4180 reader: records of fields (quoted fields may hold commas, quotes, CRLF).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "CSV must end with a line break"
    );
    rows
}

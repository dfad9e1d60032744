//! Reads an application's clients and settings from the vendor's Configuration API
//! (`GET /clients`, `GET /clients/{id}/settings`, `GET /settings`, HTTP Basic with an owner
//! client) into a fixture document, keeping the vendor's ids and, where its answers carry
//! `_secret`, its secrets.

use anyhow::{bail, Context};
use serde_json::{Map, Value};

/// The fields of a vendor client object a fixture takes (links like `_self` are left out).
const CLIENT_FIELDS: [&str; 5] = ["_id", "_secret", "name", "features", "ipWhitelist"];

async fn get(http: &reqwest::Client, url: &str, id: &str, secret: &str) -> anyhow::Result<Value> {
    let res = http
        .get(url)
        .basic_auth(id, Some(secret))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = res.status();
    let text = res.text().await.with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: the vendor answered {status}: {}", text.trim());
    }
    serde_json::from_str(&text).with_context(|| format!("GET {url}: the answer is not JSON"))
}

/// A settings answer without its links (`_self`).
fn settings_of(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .collect(),
        ),
        other => other,
    }
}

/// `from`: the vendor's `https://…/config/{appId}`.
pub async fn fetch_vendor_document(
    from: &str,
    client_id: &str,
    client_secret: &str,
) -> anyhow::Result<Value> {
    let base = from.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let Value::Array(listed) =
        get(&http, &format!("{base}/clients"), client_id, client_secret).await?
    else {
        bail!("GET {base}/clients: the answer is not a list of clients");
    };
    let mut clients = Vec::with_capacity(listed.len());
    for item in listed {
        let Value::Object(vendor) = item else {
            bail!("GET {base}/clients: a client is not an object");
        };
        let mut client: Map<String, Value> = vendor
            .into_iter()
            .filter(|(k, _)| CLIENT_FIELDS.contains(&k.as_str()))
            .collect();
        if let Some(Value::String(id)) = client.get("_id") {
            let url = format!("{base}/clients/{id}/settings");
            client.insert(
                "settings".into(),
                settings_of(get(&http, &url, client_id, client_secret).await?),
            );
        }
        clients.push(Value::Object(client));
    }
    let defaults =
        settings_of(get(&http, &format!("{base}/settings"), client_id, client_secret).await?);
    Ok(serde_json::json!({ "settings": defaults, "clients": clients }))
}

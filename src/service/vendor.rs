//! Reading an application from the vendor (issue #18): its clients, client settings and
//! application settings from the Configuration API (HTTP Basic with an owner client), its entity
//! types and every client's access schemas from the Registration API (`janrain-signed` requests
//! by default, as the vendor's libraries send them; Basic on request).
//!
//! Latchkey answers both APIs the same way, so the source may be another Latchkey as well.
//! Every failure names the part being read and the call: `entity types: POST
//! https://…/entityType.list: the vendor answered error 402 invalid_client_credentials: …`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::auth::signature::{authorization, string_to_sign, DATE_FORMAT};
use crate::domain::access::AccessType;
use crate::domain::entity_type::{leaf_paths, parse_attr_defs, AttrDef};

/// How the Registration API calls are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorAuth {
    /// `Authorization: Signature …` with a `Date` (the vendor's libraries' default).
    Signed,
    /// `Authorization: Basic …`.
    Basic,
}

/// Where and how to read the vendor's application.
#[derive(Debug, Clone)]
pub struct VendorSource {
    /// The Configuration API base of the application: `https://…/config/{appId}`.
    pub config_url: String,
    /// The Registration API base: `https://{app}.{region}.janraincapture.com`.
    pub registration_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub auth: VendorAuth,
}

/// Why the vendor could not be read. Each names the part and the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VendorError {
    #[error("{part}: {call}: the vendor could not be reached: {reason}")]
    Unreachable {
        part: String,
        call: String,
        reason: String,
    },
    #[error("{part}: {call}: the vendor answered {answer}")]
    Refused {
        part: String,
        call: String,
        answer: String,
    },
    #[error("{part}: {call}: malformed answer: {reason}")]
    Malformed {
        part: String,
        call: String,
        reason: String,
    },
    #[error("the Registration API's address cannot be derived from --from {from} (a Latchkey address ends in /config/{{appId}}): give --registration-url https://{{app}}.{{region}}.janraincapture.com")]
    NoRegistrationUrl { from: String },
}

/// One entity type as the vendor answered it (`attr_defs` as sent, reserved ones included).
#[derive(Debug, Clone, PartialEq)]
pub struct VendorType {
    pub name: String,
    pub attr_defs: Value,
}

/// One client with everything the vendor said about it. `name`, `features` and `ipWhitelist`
/// are kept as sent (the import checks them with the fixture rules, naming the client).
#[derive(Debug, Clone, PartialEq)]
pub struct VendorClient {
    pub id: String,
    /// Where the vendor disclosed it (`_secret`).
    pub secret: Option<String>,
    pub name: Value,
    pub features: Value,
    pub ip_whitelist: Value,
    pub settings: Map<String, Value>,
    /// Per (entity type, access type): the leaf attribute paths of the type as this client sees
    /// it (`entityType.getAccessSchema`), reserved attributes included.
    pub views: BTreeMap<(String, AccessType), Vec<String>>,
}

/// The vendor's application: what the import copies and the comparison checks.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorApp {
    pub settings: Map<String, Value>,
    pub types: Vec<VendorType>,
    pub clients: Vec<VendorClient>,
}

/// The Registration API's base, derived from a Latchkey Config API address
/// (`https://host/config/{appId}` → `https://host`), since the vendor's own layout (its Config
/// API host and the application's `janraincapture.com` host) cannot be derived from each other.
pub fn derive_registration_url(from: &str) -> Result<String, VendorError> {
    let trimmed = from.trim_end_matches('/');
    match trimmed.rsplit_once("/config/") {
        Some((base, app)) if !base.is_empty() && !app.is_empty() && !app.contains('/') => {
            Ok(base.to_owned())
        }
        _ => Err(VendorError::NoRegistrationUrl {
            from: from.to_owned(),
        }),
    }
}

/// Links (`_self`) are not settings.
fn without_links(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect()
}

struct Reader<'a> {
    source: &'a VendorSource,
    http: reqwest::Client,
}

impl Reader<'_> {
    /// A Config API GET (Basic, an owner client): the JSON answer.
    async fn config(&self, part: &str, path: &str) -> Result<Value, VendorError> {
        let url = format!("{}{path}", self.source.config_url.trim_end_matches('/'));
        let call = format!("GET {url}");
        let res = self
            .http
            .get(&url)
            .basic_auth(&self.source.client_id, Some(&self.source.client_secret))
            .send()
            .await;
        self.answer(part, call, res).await
    }

    async fn answer(
        &self,
        part: &str,
        call: String,
        res: reqwest::Result<reqwest::Response>,
    ) -> Result<Value, VendorError> {
        let res = res.map_err(|e| VendorError::Unreachable {
            part: part.to_owned(),
            call: call.clone(),
            reason: error_chain(&e),
        })?;
        let status = res.status();
        let text = res.text().await.map_err(|e| VendorError::Unreachable {
            part: part.to_owned(),
            call: call.clone(),
            reason: error_chain(&e),
        })?;
        if !status.is_success() {
            return Err(VendorError::Refused {
                part: part.to_owned(),
                call,
                answer: format!("{status}: {}", one_line(&text)),
            });
        }
        serde_json::from_str(&text).map_err(|e| VendorError::Malformed {
            part: part.to_owned(),
            call,
            reason: format!("not JSON ({e})"),
        })
    }

    /// A Registration API call (signed or Basic): the fields of its `"stat":"ok"` answer.
    async fn registration(
        &self,
        part: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Map<String, Value>, VendorError> {
        let base = self.source.registration_url.trim_end_matches('/');
        let url = format!("{base}{path}");
        let call = format!("POST {url}");
        let malformed = |reason: String| VendorError::Malformed {
            part: part.to_owned(),
            call: call.clone(),
            reason,
        };
        let mut req = self.http.post(&url).form(params);
        req = match self.source.auth {
            VendorAuth::Basic => {
                req.basic_auth(&self.source.client_id, Some(&self.source.client_secret))
            }
            VendorAuth::Signed => {
                // The signed path is the URL's whole path (the base may carry a prefix).
                let signed_path = reqwest::Url::parse(&url)
                    .map(|u| u.path().to_owned())
                    .map_err(|e| malformed(format!("not a URL ({e})")))?;
                let date = chrono::Utc::now().format(DATE_FORMAT).to_string();
                let message = string_to_sign(&signed_path, &date, params.iter().copied());
                let auth =
                    authorization(&self.source.client_id, &self.source.client_secret, &message)
                        .ok_or_else(|| malformed("cannot sign".into()))?;
                req.header("Authorization", auth).header("Date", date)
            }
        };
        let answer = self.answer(part, call.clone(), req.send().await).await?;
        let Value::Object(mut fields) = answer else {
            return Err(malformed("not a JSON object".into()));
        };
        match fields.remove("stat").as_ref().and_then(Value::as_str) {
            Some("ok") => Ok(fields),
            Some("error") => {
                let field = |k: &str| fields.get(k).map(|v| v.to_string()).unwrap_or_default();
                Err(VendorError::Refused {
                    part: part.to_owned(),
                    call,
                    answer: format!(
                        "error {} {}: {}",
                        field("code"),
                        fields.get("error").and_then(Value::as_str).unwrap_or(""),
                        fields
                            .get("error_description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ),
                })
            }
            _ => Err(malformed("no \"stat\"".into())),
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An answer's text on one line, cut to a readable length.
fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

impl VendorSource {
    /// Reads the whole application. Any failure stops the reading (nothing is imported from a
    /// partial read).
    pub async fn read(&self) -> Result<VendorApp, VendorError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| VendorError::Unreachable {
                part: "connection".into(),
                call: self.config_url.clone(),
                reason: error_chain(&e),
            })?;
        let r = Reader { source: self, http };

        let Value::Array(listed) = r.config("clients", "/clients").await? else {
            return Err(malformed_list(self, "clients", "/clients"));
        };
        let mut clients = Vec::with_capacity(listed.len());
        for item in listed {
            let Value::Object(mut c) = item else {
                return Err(malformed_list(self, "clients", "/clients"));
            };
            let Some(Value::String(id)) = c.remove("_id") else {
                return Err(VendorError::Malformed {
                    part: "clients".into(),
                    call: format!("GET {}/clients", self.config_url),
                    reason: "a client without an \"_id\"".into(),
                });
            };
            let part = format!("client {id}: settings");
            let path = format!("/clients/{id}/settings");
            let Value::Object(settings) = r.config(&part, &path).await? else {
                return Err(malformed_object(self, &part, &path));
            };
            clients.push(VendorClient {
                secret: c
                    .remove("_secret")
                    .and_then(|s| s.as_str().map(str::to_owned)),
                name: c.remove("name").unwrap_or(Value::Null),
                features: c.remove("features").unwrap_or(Value::Array(vec![])),
                ip_whitelist: c.remove("ipWhitelist").unwrap_or(Value::Null),
                settings: without_links(settings),
                views: BTreeMap::new(),
                id,
            });
        }
        let Value::Object(defaults) = r.config("application settings", "/settings").await? else {
            return Err(malformed_object(self, "application settings", "/settings"));
        };

        let listed = r
            .registration("entity types", "/entityType.list", &[])
            .await?;
        let names: Vec<String> = match listed.get("results") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>(),
            _ => None,
        }
        .ok_or_else(|| VendorError::Malformed {
            part: "entity types".into(),
            call: format!("POST {}/entityType.list", self.registration_url),
            reason: "\"results\" is not a list of names".into(),
        })?;
        let mut types = Vec::with_capacity(names.len());
        for name in names {
            let part = format!("entity type {name}");
            let mut answer = r
                .registration(&part, "/entityType", &[("type_name", &name)])
                .await?;
            let attr_defs = answer
                .get_mut("schema")
                .and_then(|s| s.get_mut("attr_defs"))
                .map(Value::take)
                .ok_or_else(|| VendorError::Malformed {
                    part: part.clone(),
                    call: format!("POST {}/entityType", self.registration_url),
                    reason: "no \"schema\".\"attr_defs\"".into(),
                })?;
            // Checked here, before any schema is read against it.
            if let Err(e) = parse_attr_defs(&attr_defs) {
                return Err(VendorError::Malformed {
                    part,
                    call: format!("POST {}/entityType", self.registration_url),
                    reason: format!("attr_defs: {e}"),
                });
            }
            types.push(VendorType { name, attr_defs });
        }

        for client in &mut clients {
            for t in &types {
                for access in [AccessType::Read, AccessType::Write] {
                    let part = format!(
                        "client {}: access schema {} {}",
                        client.id,
                        t.name,
                        access.as_str()
                    );
                    let params = [
                        ("type_name", t.name.as_str()),
                        ("for_client_id", client.id.as_str()),
                        ("access_type", access.as_str()),
                    ];
                    let answer = r
                        .registration(&part, "/entityType.getAccessSchema", &params)
                        .await?;
                    let view = answer
                        .get("schema")
                        .and_then(|s| s.get("attr_defs"))
                        .cloned()
                        .and_then(|v| serde_json::from_value::<Vec<AttrDef>>(v).ok())
                        .ok_or_else(|| VendorError::Malformed {
                            part: part.clone(),
                            call: format!(
                                "POST {}/entityType.getAccessSchema",
                                self.registration_url
                            ),
                            reason: "no readable \"schema\".\"attr_defs\"".into(),
                        })?;
                    client
                        .views
                        .insert((t.name.clone(), access), leaf_paths(&view));
                }
            }
        }
        Ok(VendorApp {
            settings: without_links(defaults),
            types,
            clients,
        })
    }
}

fn malformed_list(source: &VendorSource, part: &str, path: &str) -> VendorError {
    VendorError::Malformed {
        part: part.into(),
        call: format!("GET {}{path}", source.config_url),
        reason: "not a list of client objects".into(),
    }
}

fn malformed_object(source: &VendorSource, part: &str, path: &str) -> VendorError {
    VendorError::Malformed {
        part: part.into(),
        call: format!("GET {}{path}", source.config_url),
        reason: "not a JSON object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_address_is_derived_from_a_latchkey_address_only() {
        assert_eq!(
            derive_registration_url("https://lk.example/config/q7xoupo6wyh0ym1vbfuo7mhd9x/"),
            Ok("https://lk.example".to_owned())
        );
        assert_eq!(
            derive_registration_url("http://127.0.0.1:8080/prefix/config/abc"),
            Ok("http://127.0.0.1:8080/prefix".to_owned())
        );
        for from in [
            "https://v1.api.us.janrain.com/q7xoupo6wyh0ym1vbfuo7mhd9x/config",
            "https://lk.example/config/",
            "/config/abc",
            "https://lk.example/config/abc/clients",
        ] {
            assert!(derive_registration_url(from).is_err(), "{from}");
        }
    }

    #[test]
    fn answers_are_cut_to_one_line() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
        assert_eq!(one_line(&"x".repeat(400)).chars().count(), 301);
    }
}

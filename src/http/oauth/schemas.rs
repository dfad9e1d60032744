//! The OAuth forms' and bodies' schemas as the server accepts them, too involved for the
//! derive (a form takes exactly one client authentication method: `oneOf` three shapes).
//! `schemas::refined_properties` puts them in place of the derived components.

use serde_json::{json, Map, Value};

use crate::domain::oauth::{SigningAlg, CLIENT_CREDENTIALS, JWT_BEARER_ASSERTION, LIFETIME_RANGE};

/// Three shapes of a form: Basic (no client parameters in the body; the credentials are in the
/// `Authorization` header), `client_secret_post`, `private_key_jwt`.
fn one_auth_method(common: Value, required: &[&str]) -> Value {
    let shape = |extra: Value, also_required: &[&str]| {
        let mut properties: Map<String, Value> = common.as_object().cloned().unwrap_or_default();
        if let Some(extra) = extra.as_object() {
            properties.extend(extra.clone());
        }
        let required: Vec<&str> = required.iter().chain(also_required).copied().collect();
        json!({"type": "object", "properties": properties, "required": required,
               "additionalProperties": false})
    };
    let text = json!({"type": "string", "pattern": "^[^\\u0000]*$"});
    json!({"oneOf": [
        shape(json!({}), &[]),
        shape(json!({"client_id": text, "client_secret": text}), &["client_id", "client_secret"]),
        shape(json!({
            "client_id": text,
            "client_assertion_type": {"type": "string", "enum": [JWT_BEARER_ASSERTION]},
            "client_assertion": text,
        }), &["client_assertion_type", "client_assertion"]),
    ]})
}

/// A public JWK member: base64url of 32 bytes (a P-256 coordinate or an Ed25519 key).
fn b64_32() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"})
}

pub fn components() -> Vec<(&'static str, Value)> {
    let text = json!({"type": "string", "pattern": "^[^\\u0000]*$"});
    let token_form = one_auth_method(
        json!({
            "grant_type": {"type": "string", "enum": [CLIENT_CREDENTIALS]},
            "scope": text,
            "resource": text,
        }),
        &["grant_type"],
    );
    let check_form = one_auth_method(json!({"token": text, "token_type_hint": text}), &["token"]);
    let settings = json!({
        "type": "object",
        "properties": {
            "signingAlg": {"type": ["string", "null"],
                           "enum": SigningAlg::ALL.map(SigningAlg::as_str).into_iter()
                               .map(Value::from).chain([Value::Null]).collect::<Vec<_>>(),
                           "description": "The algorithm of keys made from now on (rotate to switch)."},
            "tokenLifetimeSecs": {"type": ["integer", "null"],
                                  "minimum": LIFETIME_RANGE.start(), "maximum": LIFETIME_RANGE.end()},
        },
    });
    let common = |kty: &str, crv: &str| {
        json!({"kty": {"enum": [kty]}, "crv": {"enum": [crv]},
        "kid": text, "alg": {"type": "string", "enum": [if kty == "EC" { "ES256" } else { "EdDSA" }]},
        "use": {"enum": ["sig"]}})
    };
    let mut ec = common("EC", "P-256");
    ec["x"] = b64_32();
    ec["y"] = b64_32();
    let mut okp = common("OKP", "Ed25519");
    okp["x"] = b64_32();
    let key = |props: Value, required: &[&str]| {
        json!({"type": "object", "properties": props,
        "required": required, "additionalProperties": false})
    };
    let jwks = json!({
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"oneOf": [
            key(ec, &["kty", "crv", "x", "y"]),
            key(okp, &["kty", "crv", "x"]),
        ]}}},
        "description": "Public keys only (EC P-256 or Ed25519 here; RSA keys are accepted too). \
                        An EC key's coordinates must be a point of the curve.",
    });
    vec![
        ("TokenForm", token_form),
        ("TokenCheckForm", check_form),
        ("OAuthSettingsFields", settings),
        ("ClientJwksInput", jwks),
    ]
}

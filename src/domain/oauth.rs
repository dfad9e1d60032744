//! OAuth 2.0 client credentials (docs/oauth.md): the rules, with no I/O (the caller passes
//! `now`). Scopes are features; access tokens are RFC 9068 JWTs whose claims are
//! [`AccessClaims`]; client assertions (RFC 7523) are checked by [`check_assertion`].

use super::wire_name::wire_names;

use serde::{Deserialize, Serialize};

use super::{Feature, FeatureSet};

/// The grant type this server issues tokens for.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// `client_assertion_type` of private_key_jwt (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The `typ` header of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Default lifetime of an access token, in seconds.
pub const DEFAULT_LIFETIME_SECS: i64 = 600;
/// Bounds of an application's token lifetime, in seconds.
pub const LIFETIME_RANGE: std::ops::RangeInclusive<i64> = 60..=86_400;
/// A client assertion may expire at most this far ahead (authlib's default and Okta's limit).
pub const MAX_ASSERTION_SECS: i64 = 3_600;
/// Clock skew tolerated on a client assertion's `exp`, `nbf` and `iat`.
pub const ASSERTION_LEEWAY_SECS: i64 = 30;

/// The algorithm an application's keys sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

// The JOSE names (`alg`), as stored; serde's renames above are the same words.
wire_names! { SigningAlg, refused: UnknownAlg = |_| UnknownAlg; {
    Es256 => "ES256",
    EdDsa => "EdDSA",
} }

/// An algorithm name this server does not sign with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signing algorithm must be ES256 or EdDSA")]
pub struct UnknownAlg;

/// A token lifetime outside 60–86,400 seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token lifetime must be between 60 and 86400 seconds")]
pub struct BadLifetime;

/// Checks an application's token lifetime.
pub fn token_lifetime(secs: i64) -> Result<i64, BadLifetime> {
    LIFETIME_RANGE
        .contains(&secs)
        .then_some(secs)
        .ok_or(BadLifetime)
}

/// The issuer of an application's tokens: `LATCHKEY_PUBLIC_URL` + `/oauth/{appId}`.
pub fn issuer(public_url: &str, app_id: &str) -> String {
    format!("{}/oauth/{app_id}", public_url.trim_end_matches('/'))
}

/// Why a client gets no token for the scope it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The scope names something that is not one of the client's features.
    #[error("the scope names {name:?}, which is not a feature of this client")]
    Invalid { name: String },
    /// The client may not use client credentials at all: its only feature is `login_client`
    /// (meant for browsers), or it has none.
    #[error("{0}")]
    Unauthorized(&'static str),
}

/// The features a token carries: those named by `scope` (space-separated), or all the client's
/// features when `scope` is absent or blank.
pub fn granted_scope(client: &FeatureSet, scope: Option<&str>) -> Result<FeatureSet, ScopeError> {
    if client.contains(Feature::LoginClient) {
        return Err(ScopeError::Unauthorized(
            "login_client clients cannot use the client_credentials grant",
        ));
    }
    if client.is_empty() {
        return Err(ScopeError::Unauthorized(
            "the client has no feature to grant",
        ));
    }
    let names: Vec<&str> = scope
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(*client);
    }
    let mut granted = Vec::with_capacity(names.len());
    for name in names {
        match name.parse::<Feature>() {
            Ok(f) if client.contains(f) => granted.push(f),
            _ => {
                return Err(ScopeError::Invalid {
                    name: name.to_owned(),
                })
            }
        }
    }
    Ok(FeatureSet::of(&granted))
}

/// The scope claim of a feature set: names sorted, space-separated.
pub fn scope_text(features: &FeatureSet) -> String {
    features.names().join(" ")
}

/// The features a scope claim names (unknown names are not features: `None`).
pub fn parse_scope(scope: &str) -> Option<FeatureSet> {
    let features: Result<Vec<Feature>, _> = scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::parse::<Feature>)
        .collect();
    features.ok().map(|f| FeatureSet::of(&f))
}

/// `aud` of a token: one resource as a string, several as an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// The audience of a token asked for `resources` (RFC 8707); without, the issuer.
    pub fn of(resources: Vec<String>, issuer: &str) -> Self {
        match <[String; 1]>::try_from(resources) {
            Ok([one]) => Audience::One(one),
            Err(v) if v.is_empty() => Audience::One(issuer.to_owned()),
            Err(v) => Audience::Many(v),
        }
    }

    pub fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(a) => a == value,
            Audience::Many(v) => v.iter().any(|a| a == value),
        }
    }
}

/// A `resource` parameter that is not an absolute URI without a fragment (RFC 8707 §2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource must be an absolute URI without a fragment")]
pub struct BadResource;

/// Checks one `resource` value: `scheme:rest`, no fragment, no blanks.
pub fn check_resource(value: &str) -> Result<(), BadResource> {
    let Some((scheme, rest)) = value.split_once(':') else {
        return Err(BadResource);
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok
        || rest.is_empty()
        || value.contains('#')
        || value.chars().any(char::is_whitespace)
    {
        return Err(BadResource);
    }
    Ok(())
}

/// The claims of an access token (RFC 9068 §2.2). The token format outlives a release: a
/// field is only ever added, never renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
}

impl AccessClaims {
    /// The claims of a new token, valid from `now` for `lifetime_secs`.
    pub fn new(
        issuer: &str,
        client_id: &str,
        aud: Audience,
        scope: &FeatureSet,
        now: i64,
        lifetime_secs: i64,
        jti: String,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            aud,
            exp: now + lifetime_secs,
            iat: now,
            jti,
            scope: scope_text(scope),
        }
    }
}

/// The claims of a client assertion that this server reads (RFC 7523 §3).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AssertionClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
}

/// Why a client assertion is refused (all of them answer `invalid_client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("the assertion's iss and sub must both be the client id")]
    Subject,
    #[error("the assertion's aud must name the token endpoint or the issuer")]
    Audience,
    #[error("the assertion has no exp")]
    NoExpiry,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion's exp is more than 60 minutes ahead")]
    TooLong,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the assertion has no jti")]
    NoJti,
    #[error("the assertion was already used")]
    Replayed,
    #[error("the assertion is not signed by a key registered for the client")]
    Signature,
}

/// Checks an assertion's claims (its signature is checked apart): `iss` = `sub` = the client,
/// `aud` one of `audiences`, `exp` in the future and at most 60 minutes ahead, a `jti`.
pub fn check_assertion(
    claims: &AssertionClaims,
    client_id: &str,
    audiences: &[&str],
    now: i64,
) -> Result<(), AssertionError> {
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(AssertionError::Subject);
    }
    let aud_ok = claims
        .aud
        .as_ref()
        .is_some_and(|aud| audiences.iter().any(|a| aud.contains(a)));
    if !aud_ok {
        return Err(AssertionError::Audience);
    }
    let exp = claims.exp.ok_or(AssertionError::NoExpiry)?;
    if exp + ASSERTION_LEEWAY_SECS <= now {
        return Err(AssertionError::Expired);
    }
    if exp > now + MAX_ASSERTION_SECS + ASSERTION_LEEWAY_SECS {
        return Err(AssertionError::TooLong);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now + ASSERTION_LEEWAY_SECS)
    {
        return Err(AssertionError::NotYetValid);
    }
    if claims
        .iat
        .is_some_and(|iat| iat > now + ASSERTION_LEEWAY_SECS)
    {
        return Err(AssertionError::NotYetValid);
    }
    if claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err(AssertionError::NoJti);
    }
    Ok(())
}

/// The moment (Unix seconds) a key that stops signing at `signs_until` can be dropped from the
/// published set: when the last token it signed has expired.
pub fn retirement(signs_until: i64, lifetime_secs: i64) -> i64 {
    signs_until + lifetime_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> FeatureSet {
        FeatureSet::from_stored(names)
    }

    #[test]
    fn scope_defaults_to_every_feature_and_refuses_others() {
        let client = set(&["access_issuer", "direct_access"]);
        assert_eq!(granted_scope(&client, None).unwrap(), client);
        assert_eq!(granted_scope(&client, Some("  ")).unwrap(), client);
        assert_eq!(
            granted_scope(&client, Some("direct_access")).unwrap(),
            set(&["direct_access"])
        );
        assert_eq!(
            granted_scope(&client, Some("owner")).unwrap_err(),
            ScopeError::Invalid {
                name: "owner".into()
            }
        );
        assert_eq!(
            granted_scope(&client, Some("direct_access nonsense")).unwrap_err(),
            ScopeError::Invalid {
                name: "nonsense".into()
            }
        );
        assert!(matches!(
            granted_scope(&set(&["login_client"]), None).unwrap_err(),
            ScopeError::Unauthorized(_)
        ));
        assert!(matches!(
            granted_scope(&set(&[]), None).unwrap_err(),
            ScopeError::Unauthorized(_)
        ));
        assert_eq!(scope_text(&client), "access_issuer direct_access");
        assert_eq!(parse_scope("direct_access access_issuer"), Some(client));
        assert_eq!(parse_scope("bogus"), None);
    }

    #[test]
    fn lifetimes_and_resources() {
        assert_eq!(token_lifetime(60), Ok(60));
        assert_eq!(token_lifetime(86_400), Ok(86_400));
        assert_eq!(token_lifetime(59), Err(BadLifetime));
        assert_eq!(token_lifetime(86_401), Err(BadLifetime));
        assert!(check_resource("https://api.example.com/v1").is_ok());
        assert!(check_resource("urn:example:api").is_ok());
        assert!(check_resource("api.example.com").is_err());
        assert!(check_resource("https://x/#frag").is_err());
        assert!(check_resource("1http://x").is_err());
        assert_eq!(
            issuer("http://localhost:8080/", "abc"),
            "http://localhost:8080/oauth/abc"
        );
        assert_eq!(Audience::of(vec![], "iss"), Audience::One("iss".into()));
        assert_eq!(
            serde_json::to_string(&Audience::of(vec!["a".into(), "b".into()], "iss")).unwrap(),
            r#"["a","b"]"#
        );
        assert_eq!("EdDSA".parse::<SigningAlg>(), Ok(SigningAlg::EdDsa));
        assert_eq!("RS256".parse::<SigningAlg>(), Err(UnknownAlg));
    }

    #[test]
    fn assertions() {
        let now = 1_000_000;
        let good = AssertionClaims {
            iss: Some("c".into()),
            sub: Some("c".into()),
            aud: Some(Audience::One("https://as/token".into())),
            exp: Some(now + 300),
            nbf: None,
            iat: Some(now),
            jti: Some("j1".into()),
        };
        let auds = ["https://as/token", "https://as"];
        assert_eq!(check_assertion(&good, "c", &auds, now), Ok(()));
        let with = |f: fn(&mut AssertionClaims)| {
            let mut c = good.clone();
            f(&mut c);
            check_assertion(&c, "c", &auds, now)
        };
        assert_eq!(
            with(|c| c.sub = Some("d".into())),
            Err(AssertionError::Subject)
        );
        assert_eq!(with(|c| c.iss = None), Err(AssertionError::Subject));
        assert_eq!(
            with(|c| c.aud = Some(Audience::One("https://other".into()))),
            Err(AssertionError::Audience)
        );
        assert_eq!(
            with(|c| c.aud = Some(Audience::Many(vec!["x".into(), "https://as".into()]))),
            Ok(())
        );
        assert_eq!(with(|c| c.exp = None), Err(AssertionError::NoExpiry));
        assert_eq!(
            with(|c| c.exp = Some(1_000_000 - 31)),
            Err(AssertionError::Expired)
        );
        assert_eq!(with(|c| c.exp = Some(1_000_000 + 3_600)), Ok(()));
        assert_eq!(
            with(|c| c.exp = Some(1_000_000 + 3_700)),
            Err(AssertionError::TooLong)
        );
        assert_eq!(
            with(|c| c.nbf = Some(1_000_000 + 60)),
            Err(AssertionError::NotYetValid)
        );
        assert_eq!(with(|c| c.jti = None), Err(AssertionError::NoJti));
    }
}

//! What a request presents as proof of identity.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Credentials as presented, before any check.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `client_id:client_secret`, from HTTP Basic or from form parameters.
    Client { client_id: String, secret: String },
    /// `Authorization: Bearer <token>`: claims to be the platform operator.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    // Never print a secret, not even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Client { client_id, .. } => f
                .debug_struct("Client")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Credentials::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// An `Authorization` header that is neither Basic nor Bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationError {
    /// Malformed, or a scheme Latchkey does not take (`Signature …` among them).
    Unsupported { scheme: String },
}

/// Parses an `Authorization` header value. `Ok(None)`: no usable credential in it.
pub fn parse_authorization(value: &str) -> Result<Option<Credentials>, AuthorizationError> {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
            return Ok(None);
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return Ok(None);
        };
        let Some(colon) = text.find(':') else {
            return Ok(None);
        };
        // The decoded text becomes the client id in place: one copy (the secret's), not two.
        let mut client_id = text;
        let secret = client_id.split_off(colon + 1);
        client_id.truncate(colon);
        return Ok(Some(Credentials::Client { client_id, secret }));
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok((!rest.is_empty()).then(|| Credentials::Bearer(rest.to_owned())));
    }
    Err(AuthorizationError::Unsupported {
        scheme: scheme.to_owned(),
    })
}

/// The configured operator token, kept as a digest so comparison is constant-time whatever the
/// presented token's length.
#[derive(Clone)]
pub struct OperatorToken(Option<[u8; 32]>);

impl OperatorToken {
    pub fn new(token: Option<&str>) -> Self {
        Self(token.map(digest))
    }

    /// Changes whenever the configured token changes, and reveals neither the token nor its
    /// digest: state opened with one token (console sessions) can end when it is replaced.
    /// `None` when no token is configured.
    pub fn fingerprint(&self) -> Option<[u8; 32]> {
        self.0.map(|d| {
            Sha256::new()
                .chain_update(b"latchkey operator fingerprint")
                .chain_update(d)
                .finalize()
                .into()
        })
    }

    /// False when no token is configured: then nobody is the operator.
    pub fn matches(&self, presented: &str) -> bool {
        match &self.0 {
            Some(expected) => bool::from(expected.ct_eq(&digest(presented))),
            None => false,
        }
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn parses_basic() {
        assert_eq!(
            parse_authorization(&basic("abc:def:ghi")).unwrap(),
            Some(Credentials::Client {
                client_id: "abc".into(),
                secret: "def:ghi".into()
            })
        );
        assert_eq!(
            parse_authorization(&basic("abc:def").replace("Basic", "basic")).unwrap(),
            Some(Credentials::Client {
                client_id: "abc".into(),
                secret: "def".into()
            })
        );
    }

    #[test]
    fn malformed_basic_is_no_credential() {
        assert_eq!(parse_authorization("Basic !!!").unwrap(), None);
        assert_eq!(parse_authorization(&basic("nocolon")).unwrap(), None);
        assert_eq!(parse_authorization("Basic").unwrap(), None);
    }

    #[test]
    fn operator_fingerprints_follow_the_token() {
        let a = OperatorToken::new(Some("token-a")).fingerprint().unwrap();
        assert_eq!(Some(a), OperatorToken::new(Some("token-a")).fingerprint());
        assert_ne!(Some(a), OperatorToken::new(Some("token-b")).fingerprint());
        assert_ne!(a, digest("token-a"));
        assert_eq!(OperatorToken::new(None).fingerprint(), None);
    }

    #[test]
    fn parses_bearer() {
        assert_eq!(
            parse_authorization("Bearer tok").unwrap(),
            Some(Credentials::Bearer("tok".into()))
        );
        assert_eq!(parse_authorization("Bearer ").unwrap(), None);
    }

    #[test]
    fn other_schemes_are_reported() {
        assert_eq!(
            parse_authorization("Signature abc:def").unwrap_err(),
            AuthorizationError::Unsupported {
                scheme: "Signature".into()
            }
        );
    }

    #[test]
    fn operator_token_matching() {
        let t = OperatorToken::new(Some("s3cret-operator-token"));
        assert!(t.matches("s3cret-operator-token"));
        assert!(!t.matches("s3cret-operator-toke"));
        assert!(!t.matches(""));
        assert!(!OperatorToken::new(None).matches(""));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::Client {
            client_id: "id".into(),
            secret: "topsecret".into(),
        };
        assert!(!format!("{c:?}").contains("topsecret"));
        assert!(!format!("{:?}", Credentials::Bearer("tok".into())).contains("tok"));
    }
}

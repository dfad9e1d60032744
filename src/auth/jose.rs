//! JOSE for OAuth: signing keys (generated with `p256` / `ed25519-dalek`, stored as PKCS#8),
//! their public JWKs, signing access tokens and verifying JWTs, through `jsonwebtoken`
//! (RustCrypto backend) and, for signing, the same RustCrypto keys held parsed (`Signer`).
//! No cryptography is written here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::domain::oauth::{SigningAlg, ACCESS_TOKEN_TYP};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    #[error("cannot make a key: {0}")]
    KeyGeneration(String),
    #[error("a stored signing key does not load: {0}")]
    BadKey(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The JOSE algorithm of a signing algorithm.
pub fn algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Es256 => Algorithm::ES256,
        SigningAlg::EdDsa => Algorithm::EdDSA,
    }
}

/// A new key pair: the private key as PKCS#8 DER encoded in base64 (what is sealed), and its
/// public JWK carrying `kid`, `alg` and `use: sig`.
pub fn generate(alg: SigningAlg, kid: &str) -> Result<(Zeroizing<String>, Jwk), JoseError> {
    use p256::pkcs8::EncodePrivateKey;
    let gen_err = |e: &dyn std::fmt::Display| JoseError::KeyGeneration(e.to_string());
    let der = match alg {
        SigningAlg::Es256 => {
            // 32 bytes from the operating system's CSPRNG (through rand's ThreadRng); a value
            // outside the scalar field (odds about 2^-32) is drawn again.
            let key = loop {
                let bytes = Zeroizing::new(rand::random::<[u8; 32]>());
                if let Ok(key) = p256::SecretKey::from_slice(bytes.as_slice()) {
                    break key;
                }
            };
            key.to_pkcs8_der().map_err(|e| gen_err(&e))?
        }
        SigningAlg::EdDsa => {
            // PKCS#8 v1 (the seed alone), the form jsonwebtoken derives the public JWK from.
            let seed = Zeroizing::new(rand::random::<[u8; 32]>());
            ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: *seed,
                public_key: None,
            }
            .to_pkcs8_der()
            .map_err(|e| gen_err(&e))?
        }
    };
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der.as_bytes()));
    let jwk = public_jwk(&encoding_key(alg, &encoded)?, alg, kid)?;
    Ok((encoded, jwk))
}

fn encoding_key(alg: SigningAlg, pkcs8_b64: &str) -> Result<EncodingKey, JoseError> {
    let der = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(pkcs8_b64)
            .map_err(|e| JoseError::BadKey(e.to_string()))?,
    );
    Ok(match alg {
        SigningAlg::Es256 => EncodingKey::from_ec_der(&der),
        SigningAlg::EdDsa => EncodingKey::from_ed_der(&der),
    })
}

fn public_jwk(key: &EncodingKey, alg: SigningAlg, kid: &str) -> Result<Jwk, JoseError> {
    let mut jwk = Jwk::from_encoding_key(key, algorithm(alg))
        .map_err(|e| JoseError::KeyGeneration(e.to_string()))?;
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// A key that signs: its id, algorithm and private key (never printed).
///
/// Why not `jsonwebtoken::encode` per token: it rebuilds the signing key from its PKCS#8
/// bytes on every call, and for P-256 that means a scalar multiplication (the public key)
/// besides the signature's own, and it serialises the same header each time. Here the key
/// is parsed once when the key set loads and the header encoded once; the token is the same
/// compact JWS `jsonwebtoken` makes (RFC 7515 §7.1: base64url header and claims, joined by a
/// dot, and the base64url signature), byte for byte — a unit test below compares the two.
/// Ed25519 signatures are deterministic, so an EdDSA token is byte for byte what
/// `jsonwebtoken` makes; ES256 ones are randomised (ring), so only their header and claims are.
pub struct Signer {
    pub kid: String,
    pub alg: SigningAlg,
    key: PrivateKey,
    /// `base64url(header) + "."`: the same for every token of this key.
    header_prefix: String,
}

enum PrivateKey {
    /// ring's P-256: the profile of a token request showed RustCrypto's signature (a
    /// constant-time scalar multiplication in portable code) as the largest part of the
    /// request, about 430,000 instructions; ring's is assembly. The key is parsed by `p256`
    /// (the crate that generated it) and handed to ring as scalar and public point.
    Es256(ring::signature::EcdsaKeyPair),
    EdDsa(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads an opened (unsealed) PKCS#8 key.
    pub fn load(kid: &str, alg: SigningAlg, pkcs8_b64: &str) -> Result<Self, JoseError> {
        use p256::elliptic_curve::sec1::ToSec1Point;
        use p256::pkcs8::DecodePrivateKey;
        let der = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(pkcs8_b64)
                .map_err(|e| JoseError::BadKey(e.to_string()))?,
        );
        let bad = |e: &dyn std::fmt::Display| JoseError::BadKey(e.to_string());
        let key = match alg {
            SigningAlg::Es256 => {
                let key = p256::SecretKey::from_pkcs8_der(&der).map_err(|e| bad(&e))?;
                let scalar = Zeroizing::new(key.to_bytes());
                let public = key.public_key().to_sec1_point(false);
                PrivateKey::Es256(
                    ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        scalar.as_slice(),
                        public.as_bytes(),
                        &ring::rand::SystemRandom::new(),
                    )
                    .map_err(|e| bad(&e))?,
                )
            }
            SigningAlg::EdDsa => PrivateKey::EdDsa(
                ed25519_dalek::SigningKey::from_pkcs8_der(&der).map_err(|e| bad(&e))?,
            ),
        };
        let mut header = Header::new(algorithm(alg));
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(kid.to_owned());
        let header = serde_json::to_vec(&header).map_err(|e| JoseError::Signing(e.to_string()))?;
        let mut header_prefix = URL_SAFE_NO_PAD.encode(header);
        header_prefix.push('.');
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            key,
            header_prefix,
        })
    }

    /// An access token: a JWS with `typ: at+jwt` and this key's `kid`.
    pub fn sign_access_token<T: Serialize>(&self, claims: &T) -> Result<String, JoseError> {
        let claims = serde_json::to_vec(claims).map_err(|e| JoseError::Signing(e.to_string()))?;
        let mut token =
            String::with_capacity(self.header_prefix.len() + claims.len() * 4 / 3 + 100);
        token.push_str(&self.header_prefix);
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = match &self.key {
            // A random nonce from the operating system per signature (ring hedges it with the
            // key and the message), in the fixed r || s form JWS wants (RFC 7518 §3.4).
            PrivateKey::Es256(key) => key
                .sign(&ring::rand::SystemRandom::new(), token.as_bytes())
                .map_err(|e| JoseError::Signing(e.to_string()))?
                .as_ref()
                .to_vec(),
            PrivateKey::EdDsa(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(token.as_bytes()).to_bytes().to_vec()
            }
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// Why a JWT did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a JWT")]
    Malformed,
    #[error("no key of the set verifies it")]
    NoKey,
    #[error("expired")]
    Expired,
    #[error("invalid: {0}")]
    Invalid(String),
}

/// The algorithms accepted on client assertions (the keys' own `alg` narrows further).
const ASSERTION_ALGS: [Algorithm; 7] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
];

/// Verifies the signature of `token` with a key of `keys` (the one named by its `kid`, or each
/// key when it names none) and decodes its claims. `exp` is checked only when `check_exp`
/// (with no leeway); audience and issuer are left to the caller.
pub fn verify<T: DeserializeOwned>(
    token: &str,
    keys: &JwkSet,
    check_exp: bool,
) -> Result<T, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if !ASSERTION_ALGS.contains(&header.alg) {
        return Err(VerifyError::NoKey);
    }
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter(|k| {
            // A key that names its algorithm is used for that one only (both spell it as JOSE).
            k.common.key_algorithm.is_none_or(|a| {
                serde_json::to_value(a).ok() == serde_json::to_value(header.alg).ok()
            })
        })
        .collect();
    let mut validation = Validation::new(header.alg);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.validate_exp = check_exp;
    validation.required_spec_claims.clear();
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<T>(token, &key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    return Err(VerifyError::Expired)
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature
                | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
                | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
                | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
                | jsonwebtoken::errors::ErrorKind::InvalidEddsaKey
                | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_) => continue,
                _ => return Err(VerifyError::Invalid(e.to_string())),
            },
        }
    }
    Err(VerifyError::NoKey)
}

/// The `typ` of a JWT's header, if it parses.
pub fn header_typ(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.typ
}

/// Checks a client's key set as an owner sends it: `{"keys": [...]}`, each a public key
/// `jsonwebtoken` can verify with (no private members).
pub fn parse_client_jwks(value: &serde_json::Value) -> Result<JwkSet, String> {
    let set: JwkSet =
        serde_json::from_value(value.clone()).map_err(|e| format!("not a JWK set: {e}"))?;
    if set.keys.is_empty() {
        return Err("the key set holds no key".into());
    }
    if set.keys.len() > 10 {
        return Err("a client may register at most 10 keys".into());
    }
    for (i, key) in set.keys.iter().enumerate() {
        let private = value["keys"][i].as_object().is_some_and(|o| {
            ["d", "p", "q", "dp", "dq", "qi", "k"]
                .iter()
                .any(|m| o.contains_key(*m))
        });
        if private {
            return Err(format!(
                "key {i} holds private material: register public keys only"
            ));
        }
        DecodingKey::from_jwk(key).map_err(|e| format!("key {i} is not usable: {e}"))?;
        check_public_key(key).map_err(|e| format!("key {i} is not usable: {e}"))?;
    }
    Ok(set)
}

/// An EC P-256 key must be a point of the curve and an Ed25519 key a valid point (checked by
/// `p256` and `ed25519-dalek`); symmetric keys are refused.
fn check_public_key(key: &Jwk) -> Result<(), String> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "a member is not base64url".to_owned())
    };
    match &key.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            let mut sec1 = vec![4u8];
            sec1.extend(b64(&p.x)?);
            sec1.extend(b64(&p.y)?);
            p256::PublicKey::from_sec1_bytes(&sec1)
                .map(|_| ())
                .map_err(|_| "not a point of P-256".into())
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            let bytes: [u8; 32] = b64(&p.x)?
                .try_into()
                .map_err(|_| "an Ed25519 key is 32 bytes".to_owned())?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(|_| ())
                .map_err(|_| "not an Ed25519 public key".into())
        }
        AlgorithmParameters::OctetKey(_) => Err("symmetric keys cannot sign assertions".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::oauth::{AccessClaims, Audience};
    use crate::domain::FeatureSet;

    #[test]
    fn generated_keys_sign_and_their_jwks_verify() {
        for alg in SigningAlg::ALL {
            let (private, jwk) = generate(alg, "k1").unwrap();
            let signer = Signer::load("k1", alg, &private).unwrap();
            let claims = AccessClaims::new(
                "https://as/oauth/app",
                "client",
                Audience::One("https://api".into()),
                &FeatureSet::from_stored(&["direct_access"]),
                jsonwebtoken::get_current_timestamp() as i64,
                600,
                "jti-1".into(),
            );
            let token = signer.sign_access_token(&claims).unwrap();
            assert_eq!(header_typ(&token).as_deref(), Some("at+jwt"));
            // The same bytes as jsonwebtoken's own encoder: all of them for EdDSA (deterministic
            // signatures), the signed part for ES256 (a random nonce per signature).
            let mut header = Header::new(algorithm(alg));
            header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
            header.kid = Some("k1".to_owned());
            let reference =
                jsonwebtoken::encode(&header, &claims, &encoding_key(alg, &private).unwrap())
                    .unwrap();
            let signed_part = |t: &str| t.rsplit_once('.').unwrap().0.to_owned();
            assert_eq!(signed_part(&token), signed_part(&reference));
            match alg {
                SigningAlg::EdDsa => assert_eq!(token, reference),
                SigningAlg::Es256 => {
                    assert_ne!(token, signer.sign_access_token(&claims).unwrap());
                    assert_eq!(token.rsplit_once('.').unwrap().1.len(), 86); // 64 bytes
                }
            }
            let set = JwkSet {
                keys: vec![jwk.clone()],
            };
            let back: AccessClaims = verify(&token, &set, true).unwrap();
            assert_eq!(back, claims);
            // Another key of the same kind does not verify it.
            let (_, other) = generate(alg, "k1").unwrap();
            let set = JwkSet { keys: vec![other] };
            assert_eq!(
                verify::<AccessClaims>(&token, &set, true).unwrap_err(),
                VerifyError::NoKey
            );
            let public = serde_json::to_value(&jwk).unwrap();
            assert_eq!(public["kid"], "k1");
            assert_eq!(public["use"], "sig");
            assert!(public.get("d").is_none());
            assert!(parse_client_jwks(&serde_json::json!({ "keys": [public] })).is_ok());
        }
        assert!(parse_client_jwks(&serde_json::json!({ "keys": [] })).is_err());
        // A point that is not on P-256.
        let (_, jwk) = generate(SigningAlg::Es256, "k").unwrap();
        let mut bad = serde_json::to_value(&jwk).unwrap();
        bad["y"] = bad["x"].clone();
        assert_eq!(
            parse_client_jwks(&serde_json::json!({ "keys": [bad] })).unwrap_err(),
            "key 0 is not usable: not a point of P-256"
        );
        let hmac = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(parse_client_jwks(&serde_json::json!({ "keys": [hmac] })).is_err());
        assert!(parse_client_jwks(&serde_json::json!({ "keys": [{"kty": "EC"}] })).is_err());
    }
}

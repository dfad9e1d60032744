//! Argon2id hashing and verification of client secrets.
//!
//! Argon2 costs tens of milliseconds by design, so it runs on the blocking pool behind a
//! semaphore (a burst of logins cannot starve the async threads or exhaust memory), and a
//! verified credential is remembered: the cache maps (client id, keyed digest of the presented
//! secret) to the PHC string it was verified against. A request reads the client's live PHC
//! strings anyway; if the cached one is still among them, the secret is proven without Argon2.
//! Rotating or deleting a secret changes those rows, so every replica's cache misses at once.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use moka::sync::Cache;
use sha2::Sha256;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("hashing task failed: {0}")]
    Task(String),
}

/// The outcome of checking a presented secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Proven; `phc` is the stored hash it matched. `rehashed` is set when that hash used older
    /// Argon2 parameters: the caller stores the new hash in its place.
    Verified {
        phc: String,
        rehashed: Option<String>,
        cache_hit: bool,
    },
    Failed,
}

type CacheKey = (String, [u8; 32]);

pub struct SecretHasher {
    params: Params,
    permits: Arc<Semaphore>,
    cache: Cache<CacheKey, Arc<str>>,
    cache_key: [u8; 32],
    /// A hash of a random secret made with the current parameters: checked against when the
    /// client is unknown, so that case costs what a wrong secret costs.
    dummy_phc: String,
}

impl SecretHasher {
    pub fn new(params: Params, max_concurrent: usize) -> Result<Self, HashError> {
        let cache_key: [u8; 32] = rand::random();
        let dummy_phc = hash_blocking(&params, &crate::domain::ids::new_secret())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(15 * 60))
                .build(),
            cache_key,
            dummy_phc,
        })
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Hashes a new secret with the current parameters.
    pub async fn hash(&self, secret: String) -> Result<String, HashError> {
        let params = self.params.clone();
        self.run_blocking(move || hash_blocking(&params, &secret))
            .await?
    }

    /// Checks `secret` for `client_id` against the client's live hashes (`None`: no such
    /// client). Unknown clients and wrong secrets take the same path: at least one Argon2 run.
    pub async fn verify(
        &self,
        client_id: &str,
        secret: &str,
        live_phcs: Option<&[String]>,
    ) -> Result<Verification, HashError> {
        let key = (client_id.to_owned(), self.keyed_digest(client_id, secret));
        let phcs: Vec<String> = match live_phcs {
            Some(p) if !p.is_empty() => p.to_vec(),
            _ => vec![self.dummy_phc.clone()],
        };
        if live_phcs.is_some() {
            if let Some(cached) = self.cache.get(&key) {
                if let Some(phc) = phcs.iter().find(|p| p.as_str() == &*cached) {
                    return Ok(Verification::Verified {
                        phc: phc.clone(),
                        rehashed: None,
                        cache_hit: true,
                    });
                }
            }
        }
        let known = live_phcs.is_some_and(|p| !p.is_empty());
        let params = self.params.clone();
        let secret = secret.to_owned();
        let outcome = self
            .run_blocking(move || verify_blocking(&params, &secret, &phcs))
            .await??;
        match outcome {
            Some((phc, rehashed)) if known => {
                // Remember the hash that will be stored once the caller saves the re-hash.
                let current: &str = rehashed.as_deref().unwrap_or(&phc);
                self.cache.insert(key, Arc::from(current));
                Ok(Verification::Verified {
                    phc,
                    rehashed,
                    cache_hit: false,
                })
            }
            _ => Ok(Verification::Failed),
        }
    }

    fn keyed_digest(&self, client_id: &str, secret: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.cache_key).expect("any key length");
        mac.update(client_id.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| HashError::Task(e.to_string()))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, secret: &str) -> Result<String, HashError> {
    argon2(params)
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

/// Tries every live hash (normally one; two during a rotation grace period). Returns the one
/// that matched and, when it was made with other parameters, a fresh hash of the secret.
fn verify_blocking(
    params: &Params,
    secret: &str,
    phcs: &[String],
) -> Result<Option<(String, Option<String>)>, HashError> {
    let hasher = argon2(params);
    for phc in phcs {
        let Ok(parsed) = PasswordHash::new(phc) else {
            continue;
        };
        if hasher.verify_password(secret.as_bytes(), &parsed).is_ok() {
            let current = Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == params.m_cost()
                    && p.t_cost() == params.t_cost()
                    && p.p_cost() == params.p_cost()
            }) && parsed.algorithm.as_str() == "argon2id";
            let rehashed = if current {
                None
            } else {
                Some(hash_blocking(params, secret)?)
            };
            return Ok(Some((phc.clone(), rehashed)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(64, 1, 1, Some(32)).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings() {
        let h = SecretHasher::new(cheap(), 2).unwrap();
        let phc = h.hash("s".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert_ne!(phc, h.hash("s".into()).await.unwrap(), "salted");
    }

    #[tokio::test]
    async fn verifies_and_then_hits_the_cache() {
        let h = SecretHasher::new(cheap(), 2).unwrap();
        let phc = h.hash("right".into()).await.unwrap();
        let live = vec![phc.clone()];
        let first = h.verify("c", "right", Some(&live)).await.unwrap();
        assert_eq!(
            first,
            Verification::Verified {
                phc: phc.clone(),
                rehashed: None,
                cache_hit: false
            }
        );
        let second = h.verify("c", "right", Some(&live)).await.unwrap();
        assert_eq!(
            second,
            Verification::Verified {
                phc: phc.clone(),
                rehashed: None,
                cache_hit: true
            }
        );
    }

    #[tokio::test]
    async fn wrong_secret_unknown_client_and_other_client_fail() {
        let h = SecretHasher::new(cheap(), 2).unwrap();
        let live = vec![h.hash("right".into()).await.unwrap()];
        assert_eq!(
            h.verify("c", "wrong", Some(&live)).await.unwrap(),
            Verification::Failed
        );
        assert_eq!(
            h.verify("c", "right", None).await.unwrap(),
            Verification::Failed
        );
        assert_eq!(
            h.verify("c", "right", Some(&[])).await.unwrap(),
            Verification::Failed
        );
        h.verify("c", "right", Some(&live)).await.unwrap();
        // A cached proof is bound to the client id.
        assert_eq!(
            h.verify("d", "right", Some(&[])).await.unwrap(),
            Verification::Failed
        );
    }

    #[tokio::test]
    async fn a_replaced_hash_invalidates_the_cached_proof() {
        let h = SecretHasher::new(cheap(), 2).unwrap();
        let old = vec![h.hash("right".into()).await.unwrap()];
        h.verify("c", "right", Some(&old)).await.unwrap();
        let rotated = vec![h.hash("new".into()).await.unwrap()];
        assert_eq!(
            h.verify("c", "right", Some(&rotated)).await.unwrap(),
            Verification::Failed
        );
    }

    #[tokio::test]
    async fn grace_period_accepts_either_secret() {
        let h = SecretHasher::new(cheap(), 2).unwrap();
        let live = vec![
            h.hash("new".into()).await.unwrap(),
            h.hash("old".into()).await.unwrap(),
        ];
        assert!(matches!(
            h.verify("c", "old", Some(&live)).await.unwrap(),
            Verification::Verified { .. }
        ));
        assert!(matches!(
            h.verify("c", "new", Some(&live)).await.unwrap(),
            Verification::Verified { .. }
        ));
    }

    #[tokio::test]
    async fn older_parameters_are_rehashed() {
        let old = SecretHasher::new(cheap(), 2).unwrap();
        let phc = old.hash("s".into()).await.unwrap();
        let new = SecretHasher::new(Params::new(128, 1, 1, Some(32)).unwrap(), 2).unwrap();
        match new
            .verify("c", "s", Some(std::slice::from_ref(&phc)))
            .await
            .unwrap()
        {
            Verification::Verified {
                phc: matched,
                rehashed: Some(re),
                ..
            } => {
                assert_eq!(matched, phc);
                assert!(re.starts_with("$argon2id$v=19$m=128,t=1,p=1$"), "{re}");
            }
            other => panic!("{other:?}"),
        }
    }
}

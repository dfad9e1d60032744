//! Argon2id hashing and verification of client secrets.
//!
//! Argon2 costs tens of milliseconds by design, so it runs on the blocking pool behind a
//! semaphore (a burst of logins cannot starve the async threads or exhaust memory), and a
//! verified credential is remembered: the cache maps (client id, keyed digest of the presented
//! secret) to the PHC string it was verified against. A request reads the client's live PHC
//! strings anyway; if the cached one is still among them, the secret is proven without Argon2.
//! Rotating or deleting a secret changes those rows, so every replica's cache misses at once.
//!
//! A wrong secret costs exactly one Argon2 computation whatever the client id: unknown, known,
//! or with several live secrets during a rotation grace period (so its time tells nothing).
//! Each PHC string carries a one-byte *selector* of its secret in the standard `keyid`
//! parameter (`…,keyid=XX$…`; not an input of the hash); a presented secret is checked only
//! against the live hash with its selector, or against a dummy hash when none has it. A failed
//! check is remembered too (keyed digest of client id, secret and the live hashes it was checked
//! against), so a replayed wrong secret — a stale instance still sending a rotated one — costs
//! no Argon2 and is not a new guess for the failure limiter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use moka::sync::Cache;
use sha2::Sha256;
use subtle::ConstantTimeEq;
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
        /// Shared with the verified-credential cache (a warm check allocates nothing for it).
        phc: Arc<str>,
        rehashed: Option<String>,
        cache_hit: bool,
    },
    /// Not proven. `fresh`: Argon2 ran for it (a new guess); `false` when the same secret
    /// already failed against the same live hashes and the outcome was remembered.
    Failed { fresh: bool },
}

/// Bytes of the selector kept in each PHC string's `keyid`: one, so it tells an attacker holding
/// the database 8 bits of a 165-bit random secret. Two live secrets of a client never share one
/// (see [`new_secret_besides`]): if they did, every secret with that selector — the right ones,
/// and the wrong guesses that happen to have it, one in 256 — would cost two Argon2 runs.
const SELECTOR_LEN: usize = 1;

/// Draws of [`new_secret_besides`] before it gives up (only a client with nearly 256 live
/// secrets could exhaust them: (n/256)^64).
const SELECTOR_DRAWS: usize = 64;

/// How long, and for how many checks, a failure is remembered.
const FAILED_TTL: Duration = Duration::from_secs(15 * 60);
const FAILED_CAPACITY: u64 = 100_000;

/// The selector of a secret: the first bytes of SHA-256 over a fixed label and the secret.
fn selector(secret: &str) -> [u8; SELECTOR_LEN] {
    use sha2::Digest;
    let digest = Sha256::new()
        .chain_update(b"latchkey secret selector\0")
        .chain_update(secret.as_bytes())
        .finalize();
    let mut out = [0u8; SELECTOR_LEN];
    out.copy_from_slice(&digest[..SELECTOR_LEN]);
    out
}

/// The selector a PHC string carries (`None`: a hash made before selectors, or unparsable).
fn selector_of(phc: &str) -> Option<Vec<u8>> {
    let parsed = PasswordHash::new(phc).ok()?;
    let params = Params::try_from(&parsed).ok()?;
    (params.keyid().len() == SELECTOR_LEN).then(|| params.keyid().to_vec())
}

/// Whether `secret` has the selector of one of the live hashes `phcs`.
pub fn shares_selector(secret: &str, phcs: &[String]) -> bool {
    let wanted = selector(secret);
    phcs.iter()
        .any(|p| selector_of(p).is_some_and(|s| s == wanted))
}

/// A new random secret whose selector none of the client's live hashes `live` has, so that
/// checking any secret against the client costs exactly one Argon2 run (two live hashes with one
/// selector made a wrong guess with that selector cost two; `tests/api/hardening.rs` saw it once
/// in a few hundred runs). The secret is random anyway: drawing another costs a SHA-256.
pub fn new_secret_besides(live: &[String]) -> String {
    let mut secret = crate::auth::random::new_secret();
    for _ in 1..SELECTOR_DRAWS {
        if !shares_selector(&secret, live) {
            break;
        }
        secret = crate::auth::random::new_secret();
    }
    secret
}

/// Keyed digest of (client id, secret): the server's random key makes it unguessable, so it
/// needs no keyed hash of its own in the table (a caller cannot choose colliding digests).
type CacheKey = [u8; 32];

/// The verified-credential cache: quick_cache rather than moka, whose lookup and deferred
/// bookkeeping cost more than the HMAC in front of it (bench/README.md, "Fifth session of 3
/// December 2026"). Bounded by `LATCHKEY_AUTH_CACHE_CAPACITY` entries, evicted by CLOCK-PRO; an
/// entry proves nothing once its hash is no longer live, so it needs no expiry.
type VerifiedCache =
    quick_cache::sync::Cache<CacheKey, Arc<str>, quick_cache::UnitWeighter, DigestHashing>;

/// A [`CacheKey`] is already a keyed digest, uniform and unknown to callers: its first eight
/// bytes are its hash (hashing it again with SipHash cost a warm Basic check more than the
/// cache's own lookup).
type DigestHashing = std::hash::BuildHasherDefault<DigestHasher>;

#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut head = [0u8; 8];
            head[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(head);
        }
    }

    /// An array's hash starts with its length, the same for every key.
    fn write_usize(&mut self, _: usize) {}
}

/// A presented credential's key in the verified-credential cache (client id, keyed digest of
/// the secret): made once per request, then used to ask whether it was proven before and to
/// check it ([`SecretHasher::verify_presented`]). The cache is looked up once, when it is made
/// (a warm request used to look the same key up twice).
pub struct Presented {
    key: CacheKey,
    /// The hash this credential was proven against before, if the cache remembers one.
    remembered: Option<Arc<str>>,
}

/// Counters since start, for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct HasherStats {
    /// Argon2 computations run to check secrets (cache misses, unknown clients and wrong
    /// secrets; one per check, more only when hashes without a selector are live).
    pub argon2_verifications: u64,
    /// Verifications proven from the cache without Argon2.
    pub cache_hits: u64,
    /// Argon2 hashes made for new secrets (creation, rotation, upgrades).
    pub hashes: u64,
}

#[derive(Default)]
struct Counters {
    verifications: AtomicU64,
    cache_hits: AtomicU64,
    hashes: AtomicU64,
}

pub struct SecretHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// `None`: capacity 0, every check runs Argon2.
    cache: Option<VerifiedCache>,
    /// Checks that failed: keyed digest of (client id, secret, live hashes).
    failed: Cache<[u8; 32], ()>,
    /// Keyed once with a random key of the hash's block size (so keying cannot fail); cloned
    /// per digest.
    cache_mac: Hmac<Sha256>,
    /// A hash of a random secret made with the current parameters: checked against when the
    /// client is unknown, so that case costs what a wrong secret costs.
    dummy_phc: String,
    counters: Counters,
    memory: Arc<MemoryPool>,
}

/// Argon2's working memory (`m_cost` KiB per computation), kept and reused. Allocating 19 MiB
/// per verification made glibc keep hundreds of MiB in its arenas (measured: 395 MiB peak RSS
/// under load) and cost hundreds of page faults per request. The semaphore bounds how many
/// buffers can be in use, so the pool holds at most `max_concurrent` of them; and once no
/// secret has been hashed or checked for [`MEMORY_IDLE`], it holds none
/// ([`release_idle_memory`]): a server that only answers warm requests keeps 19 MiB per core
/// less resident.
#[derive(Default)]
struct MemoryPool(std::sync::Mutex<PooledBuffers>);

#[derive(Default)]
struct PooledBuffers {
    free: Vec<Vec<Block>>,
    last_used: Option<Instant>,
}

/// How long Argon2's pooled memory outlives its last use.
pub const MEMORY_IDLE: Duration = Duration::from_secs(10);

impl MemoryPool {
    fn with<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let reused = self
            .0
            .lock()
            .map(|mut pool| pool.free.pop())
            .unwrap_or(None);
        let mut buffer = match reused {
            Some(b) if b.len() >= blocks => b,
            _ => vec![Block::default(); blocks],
        };
        let result = f(&mut buffer[..blocks]);
        if let Ok(mut pool) = self.0.lock() {
            pool.free.push(buffer);
            pool.last_used = Some(Instant::now());
        }
        result
    }

    /// Frees the pooled buffers when none was used for `idle`; returns how many.
    fn release_idle(&self, idle: Duration) -> usize {
        let Ok(mut pool) = self.0.lock() else {
            return 0;
        };
        if pool.last_used.is_some_and(|t| t.elapsed() < idle) {
            return 0;
        }
        std::mem::take(&mut pool.free).len()
    }
}

/// Runs beside the server: every half [`MEMORY_IDLE`], frees Argon2's pooled memory if it has
/// been idle that long.
pub async fn release_idle_memory(hasher: Arc<SecretHasher>) {
    let mut tick = tokio::time::interval(MEMORY_IDLE / 2);
    loop {
        tick.tick().await;
        let released = hasher.memory.release_idle(MEMORY_IDLE);
        if released > 0 {
            crate::allocator::return_freed_memory();
            tracing::debug!(buffers = released, "released idle Argon2 memory");
        }
    }
}

impl SecretHasher {
    pub fn new(
        params: Params,
        max_concurrent: usize,
        cache_capacity: u64,
    ) -> Result<Self, HashError> {
        let cache_mac = <Hmac<Sha256> as KeyInit>::new(&rand::random::<[u8; 64]>().into());
        let memory = Arc::new(MemoryPool::default());
        let dummy_phc = hash_blocking(&params, &crate::auth::random::new_secret(), &memory)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            cache: (cache_capacity > 0).then(|| {
                let items = usize::try_from(cache_capacity).unwrap_or(usize::MAX);
                VerifiedCache::with(
                    items,
                    cache_capacity,
                    quick_cache::UnitWeighter,
                    DigestHashing::default(),
                    Default::default(),
                )
            }),
            failed: Cache::builder()
                .max_capacity(FAILED_CAPACITY)
                .time_to_live(FAILED_TTL)
                .build(),
            cache_mac,
            dummy_phc,
            counters: Counters::default(),
            memory,
        })
    }

    pub fn stats(&self) -> HasherStats {
        HasherStats {
            argon2_verifications: self.counters.verifications.load(Ordering::Relaxed),
            cache_hits: self.counters.cache_hits.load(Ordering::Relaxed),
            hashes: self.counters.hashes.load(Ordering::Relaxed),
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Hashes a new secret with the current parameters.
    pub async fn hash(&self, secret: String) -> Result<String, HashError> {
        let params = self.params.clone();
        let memory = self.memory.clone();
        self.counters.hashes.fetch_add(1, Ordering::Relaxed);
        self.run_blocking(move || hash_blocking(&params, &secret, &memory))
            .await?
    }

    /// Whether this exact credential was proven before (and is remembered): it is then no
    /// guess, whatever the failure limiter says about its source. It still has to match one of
    /// the client's live hashes in [`SecretHasher::verify`].
    pub fn was_verified(&self, presented: &Presented) -> bool {
        presented.remembered.is_some()
    }

    /// The cache key of a presented credential, and what the cache remembers of it.
    pub fn presented(&self, client_id: &str, secret: &str) -> Presented {
        let key = self.keyed_digest(client_id, secret);
        let remembered = self.cache.as_ref().and_then(|c| c.get(&key));
        Presented { key, remembered }
    }

    /// Checks `secret` for `client_id` against the client's live hashes (`None`: no such
    /// client). Unknown clients and wrong secrets take the same path: exactly one Argon2 run,
    /// against the live hash whose selector matches the secret's, else against the dummy hash.
    pub async fn verify(
        &self,
        client_id: &str,
        secret: &str,
        live_phcs: Option<&[String]>,
    ) -> Result<Verification, HashError> {
        let presented = self.presented(client_id, secret);
        self.verify_presented(&presented, client_id, secret, live_phcs)
            .await
    }

    /// [`SecretHasher::verify`] with the key already made (`presented` of the same client id
    /// and secret).
    pub async fn verify_presented(
        &self,
        presented: &Presented,
        client_id: &str,
        secret: &str,
        live_phcs: Option<&[String]>,
    ) -> Result<Verification, HashError> {
        let live = live_phcs.unwrap_or_default();
        if let Some(cached) = &presented.remembered {
            if live.iter().any(|p| p.as_str() == &**cached) {
                self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Verification::Verified {
                    phc: Arc::clone(cached),
                    rehashed: None,
                    cache_hit: true,
                });
            }
        }
        let failure_key = self.failure_digest(client_id, secret, live);
        if self.failed.contains_key(&failure_key) {
            return Ok(Verification::Failed { fresh: false });
        }
        // Hashes made before selectors existed are always candidates (each is re-hashed with a
        // selector on its next successful use, so they disappear).
        let wanted = selector(secret);
        let mut phcs: Vec<String> = live
            .iter()
            .filter(|p| selector_of(p).is_none_or(|s| s == wanted))
            .cloned()
            .collect();
        let known = !phcs.is_empty();
        if !known {
            phcs.push(self.dummy_phc.clone());
        }
        let params = self.params.clone();
        let secret = secret.to_owned();
        let memory = self.memory.clone();
        let (outcome, runs) = self
            .run_blocking(move || verify_blocking(&params, &secret, &phcs, &memory))
            .await??;
        self.counters
            .verifications
            .fetch_add(runs, Ordering::Relaxed);
        match outcome {
            Some((phc, rehashed)) if known => {
                // Remember the hash that will be stored once the caller saves the re-hash.
                let current: &str = rehashed.as_deref().unwrap_or(&phc);
                if let Some(cache) = &self.cache {
                    cache.insert(presented.key, Arc::from(current));
                }
                Ok(Verification::Verified {
                    phc: Arc::from(phc),
                    rehashed,
                    cache_hit: false,
                })
            }
            _ => {
                self.failed.insert(failure_key, ());
                Ok(Verification::Failed { fresh: true })
            }
        }
    }

    /// Keyed digest of a failed check's inputs: the client id, the secret and every live hash
    /// (in a fixed order), so the memory of a failure is exact: any change of the live hashes
    /// (a rotation, an expiry, a deletion, a client created later) makes it a new check.
    fn failure_digest(&self, client_id: &str, secret: &str, live: &[String]) -> [u8; 32] {
        let mut mac = self.cache_mac.clone();
        mac.update(b"failed\0");
        mac.update(client_id.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        let mut sorted: Vec<&String> = live.iter().collect();
        sorted.sort();
        for phc in sorted {
            mac.update(&[0]);
            mac.update(phc.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn keyed_digest(&self, client_id: &str, secret: &str) -> [u8; 32] {
        let mut mac = self.cache_mac.clone();
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

fn argon2_error(e: impl std::fmt::Display) -> HashError {
    HashError::Argon2(e.to_string())
}

/// A new PHC string for `secret`: Argon2id v19 with `params` and a random 16-byte salt.
fn hash_blocking(params: &Params, secret: &str, memory: &MemoryPool) -> Result<String, HashError> {
    let salt = argon2::password_hash::generate_salt();
    let mut out = [0u8; 32];
    let params = with_selector(params, secret)?;
    let params = &params;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    memory
        .with(params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(secret.as_bytes(), &salt, &mut out, blocks)
        })
        .map_err(argon2_error)?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(argon2_error)?,
        salt: Some(Salt::new(&salt).map_err(argon2_error)?),
        hash: Some(Output::new(&out).map_err(argon2_error)?),
    };
    Ok(phc.to_string())
}

/// `params` with the selector of `secret` as `keyid` (which Argon2 does not hash).
fn with_selector(params: &Params, secret: &str) -> Result<Params, HashError> {
    let mut builder = argon2::ParamsBuilder::new();
    builder
        .m_cost(params.m_cost())
        .t_cost(params.t_cost())
        .p_cost(params.p_cost())
        .keyid(argon2::KeyId::new(&selector(secret)).map_err(argon2_error)?);
    if let Some(len) = params.output_len() {
        builder.output_len(len);
    }
    builder.build().map_err(argon2_error)
}

/// Whether `secret` matches `phc` (any Argon2 variant and parameters the string names). The
/// comparison of the outputs is constant-time.
fn matches(secret: &str, phc: &str, memory: &MemoryPool) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = memory.with(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(secret.as_bytes(), salt.as_ref(), &mut out, blocks)
    });
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// Tries each candidate hash (normally exactly one: see [`SecretHasher::verify`]). Returns the
/// one that matched and, when it was made with other parameters or without a selector, a fresh
/// hash of the secret; and how many Argon2 computations the check took.
#[allow(clippy::type_complexity)]
fn verify_blocking(
    params: &Params,
    secret: &str,
    phcs: &[String],
    memory: &MemoryPool,
) -> Result<(Option<(String, Option<String>)>, u64), HashError> {
    let mut runs = 0;
    for phc in phcs {
        runs += 1;
        if !matches(secret, phc, memory) {
            continue;
        }
        let current = PasswordHash::new(phc).is_ok_and(|parsed| {
            parsed.algorithm.as_str() == "argon2id"
                && Params::try_from(&parsed).is_ok_and(|p| {
                    p.m_cost() == params.m_cost()
                        && p.t_cost() == params.t_cost()
                        && p.p_cost() == params.p_cost()
                        && p.keyid().len() == SELECTOR_LEN
                })
        });
        let rehashed = if current {
            None
        } else {
            Some(hash_blocking(params, secret, memory)?)
        };
        return Ok((Some((phc.clone(), rehashed)), runs));
    }
    Ok((None, runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(64, 1, 1, Some(32)).unwrap()
    }

    /// Our reuse-the-memory path and the argon2 crate's own API agree both ways.
    #[test]
    fn interoperates_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let pool = MemoryPool::default();
        let ours = hash_blocking(&cheap(), "s3cret", &pool).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::from(cheap())
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert!(Argon2::from(cheap())
            .verify_password(b"other", &parsed)
            .is_err());
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, cheap())
            .hash_password(b"s3cret")
            .unwrap()
            .to_string();
        assert!(matches("s3cret", &theirs, &pool));
        assert!(!matches("s3creT", &theirs, &pool));
        assert!(!matches("s3cret", "$argon2id$garbage", &pool));
        // An argon2i hash with other parameters is still checked by what it names.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(32, 2, 1, None).unwrap(),
        )
        .hash_password(b"s3cret")
        .unwrap()
        .to_string();
        assert!(matches("s3cret", &argon2i, &pool));
        // The buffer was reused, not reallocated per call.
        assert_eq!(pool.0.lock().unwrap().free.len(), 1);
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings() {
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
        let phc = h.hash("s".into()).await.unwrap();
        assert!(
            phc.starts_with("$argon2id$v=19$m=64,t=1,p=1,keyid="),
            "{phc}"
        );
        assert_ne!(phc, h.hash("s".into()).await.unwrap(), "salted");
    }

    #[tokio::test]
    async fn verifies_and_then_hits_the_cache() {
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
        let phc = h.hash("right".into()).await.unwrap();
        let live = vec![phc.clone()];
        // The first check computes Argon2; the same check again is proven from the cache.
        for cache_hit in [false, true] {
            let got = h.verify("c", "right", Some(&live)).await.unwrap();
            assert_eq!(
                got,
                Verification::Verified {
                    phc: Arc::from(phc.as_str()),
                    rehashed: None,
                    cache_hit
                },
                "cache_hit: {cache_hit}"
            );
        }
    }

    #[tokio::test]
    async fn wrong_secret_unknown_client_and_other_client_fail() {
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
        let live = vec![h.hash("right".into()).await.unwrap()];
        assert_eq!(
            h.verify("c", "wrong", Some(&live)).await.unwrap(),
            Verification::Failed { fresh: true }
        );
        assert_eq!(
            h.verify("c", "right", None).await.unwrap(),
            Verification::Failed { fresh: true }
        );
        // No client is no client: the same check, already failed, costs nothing now.
        assert_eq!(
            h.verify("c", "right", Some(&[])).await.unwrap(),
            Verification::Failed { fresh: false }
        );
        h.verify("c", "right", Some(&live)).await.unwrap();
        // A cached proof is bound to the client id.
        assert_eq!(
            h.verify("d", "right", Some(&[])).await.unwrap(),
            Verification::Failed { fresh: true }
        );
    }

    #[tokio::test]
    async fn a_replaced_hash_invalidates_the_cached_proof() {
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
        let old = vec![h.hash("right".into()).await.unwrap()];
        h.verify("c", "right", Some(&old)).await.unwrap();
        let rotated = vec![h.hash("new".into()).await.unwrap()];
        assert_eq!(
            h.verify("c", "right", Some(&rotated)).await.unwrap(),
            Verification::Failed { fresh: true }
        );
    }

    #[tokio::test]
    async fn a_wrong_secret_costs_one_argon2_run_however_many_secrets_are_live() {
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
        let mut live = Vec::new();
        for s in ["a", "b", "c", "d"] {
            live.push(h.hash(s.into()).await.unwrap());
        }
        for (i, phcs) in [None, Some(&live[..1]), Some(&live[..])]
            .into_iter()
            .enumerate()
        {
            for n in 0..20 {
                let before = h.stats().argon2_verifications;
                let wrong = format!("wrong-{i}-{n}");
                assert_eq!(
                    h.verify("c", &wrong, phcs).await.unwrap(),
                    Verification::Failed { fresh: true }
                );
                assert_eq!(h.stats().argon2_verifications - before, 1, "{i} {n}");
                // Replayed: remembered, no Argon2.
                assert_eq!(
                    h.verify("c", &wrong, phcs).await.unwrap(),
                    Verification::Failed { fresh: false }
                );
                assert_eq!(h.stats().argon2_verifications - before, 1);
            }
        }
        // A changed set of live hashes makes it a new check.
        assert_eq!(
            h.verify("c", "wrong-2-0", Some(&live[..2])).await.unwrap(),
            Verification::Failed { fresh: true }
        );
        for s in ["a", "b", "c", "d"] {
            let before = h.stats().argon2_verifications;
            assert!(matches!(
                h.verify("x", s, Some(&live)).await.unwrap(),
                Verification::Verified { .. }
            ));
            assert!(h.stats().argon2_verifications - before <= 2, "{s}");
        }
    }

    /// Every selector survives the PHC string it is written in (a selector read back as `None`
    /// would make its hash a candidate for every secret).
    #[test]
    fn every_selector_round_trips_through_the_phc_string() {
        for b in 0..=u8::MAX {
            let params = argon2::ParamsBuilder::new()
                .m_cost(64)
                .t_cost(1)
                .p_cost(1)
                .keyid(argon2::KeyId::new(&[b]).unwrap())
                .build()
                .unwrap();
            let phc = PasswordHash {
                algorithm: argon2::ARGON2ID_IDENT,
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).unwrap(),
                salt: Some(Salt::new(&[7u8; 16]).unwrap()),
                hash: Some(Output::new(&[9u8; 32]).unwrap()),
            }
            .to_string();
            assert_eq!(selector_of(&phc), Some(vec![b]), "{phc}");
        }
    }

    /// The cause of the rare two-run wrong guess: two live hashes with one selector. Minting
    /// with [`new_secret_besides`] never makes such a pair.
    #[tokio::test]
    async fn live_hashes_sharing_a_selector_cost_two_runs_so_none_are_minted() {
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
        let same = |n: usize| {
            (0..)
                .map(|i| format!("secret-{i}"))
                .filter(|s| selector(s) == selector("secret-0"))
                .nth(n)
                .unwrap()
        };
        let live = vec![
            h.hash(same(0)).await.unwrap(),
            h.hash(same(1)).await.unwrap(),
        ];
        let before = h.stats().argon2_verifications;
        assert_eq!(
            h.verify("c", &same(2), Some(&live)).await.unwrap(),
            Verification::Failed { fresh: true }
        );
        assert_eq!(h.stats().argon2_verifications - before, 2);
        assert!(shares_selector(&same(2), &live));

        let mut live = vec![h.hash(same(0)).await.unwrap()];
        for _ in 0..40 {
            let secret = new_secret_besides(&live);
            assert!(!shares_selector(&secret, &live));
            live.push(h.hash(secret).await.unwrap());
        }
        let selectors: std::collections::HashSet<_> =
            live.iter().map(|p| selector_of(p).unwrap()).collect();
        assert_eq!(selectors.len(), live.len());
        let before = h.stats().argon2_verifications;
        for n in 0..100 {
            h.verify("c", &format!("wrong-{n}"), Some(&live))
                .await
                .unwrap();
        }
        assert_eq!(h.stats().argon2_verifications - before, 100);
    }

    #[tokio::test]
    async fn a_hash_without_selector_still_verifies_and_gets_one() {
        use argon2::password_hash::PasswordHasher;
        let legacy = Argon2::new(Algorithm::Argon2id, Version::V0x13, cheap())
            .hash_password(b"s3cret")
            .unwrap()
            .to_string();
        assert!(selector_of(&legacy).is_none());
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
        match h
            .verify("c", "s3cret", Some(std::slice::from_ref(&legacy)))
            .await
            .unwrap()
        {
            Verification::Verified {
                rehashed: Some(re), ..
            } => assert_eq!(selector_of(&re), Some(selector("s3cret").to_vec())),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn grace_period_accepts_either_secret() {
        let h = SecretHasher::new(cheap(), 2, 100).unwrap();
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
        let old = SecretHasher::new(cheap(), 2, 100).unwrap();
        let phc = old.hash("s".into()).await.unwrap();
        let new = SecretHasher::new(Params::new(128, 1, 1, Some(32)).unwrap(), 2, 100).unwrap();
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
                assert_eq!(&*matched, phc.as_str());
                assert!(
                    re.starts_with("$argon2id$v=19$m=128,t=1,p=1,keyid="),
                    "{re}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cache_key_hashes_as_its_first_eight_bytes() {
        use std::hash::BuildHasher;
        let mut key: CacheKey = [0; 32];
        key[..8].copy_from_slice(&0x0123_4567_89ab_cdef_u64.to_le_bytes());
        key[8..].fill(0xff);
        assert_eq!(
            DigestHashing::default().hash_one(key),
            0x0123_4567_89ab_cdef
        );
        let mut other = key;
        other[0] ^= 1;
        assert_ne!(
            DigestHashing::default().hash_one(key),
            DigestHashing::default().hash_one(other)
        );
    }

    #[test]
    fn pooled_memory_is_released_only_when_idle() {
        let pool = MemoryPool::default();
        let blocks = cheap().block_count();
        assert_eq!(pool.release_idle(Duration::ZERO), 0, "nothing pooled yet");
        pool.with(blocks, |_| ());
        pool.with(blocks, |_| ());
        assert_eq!(pool.0.lock().unwrap().free.len(), 1, "one buffer, reused");
        assert_eq!(pool.release_idle(Duration::from_secs(3600)), 0, "just used");
        assert_eq!(pool.release_idle(Duration::ZERO), 1);
        assert_eq!(pool.release_idle(Duration::ZERO), 0);
        pool.with(blocks, |_| ());
        assert_eq!(
            pool.0.lock().unwrap().free.len(),
            1,
            "allocated again when needed"
        );
    }
}

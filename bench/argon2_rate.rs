//! The ceiling of scenario (c): how many Argon2id verifications per second the configured cost
//! allows on this machine's cores, measured two ways.
//!
//! * `raw`: one OS thread per core, each verifying a secret against its PHC string in a loop
//!   with the `argon2` crate — what the hardware allows, nothing else running in the process.
//! * `hasher`: the server's own `latchkey::auth::SecretHasher` with its cache off (capacity 0),
//!   `max_concurrent` = cores, driven by many concurrent tasks — the same code path a request
//!   takes (semaphore, blocking pool, HMAC cache key), without HTTP or PostgreSQL.
//!
//! Parameters come from the same variables as the server (`LATCHKEY_ARGON2_M_COST`, `_T_COST`,
//! `_P_COST`; defaults 19456 KiB, 2, 1). `BENCH_ARGON2_SECONDS` (default 5) bounds each
//! measurement; `BENCH_ARGON2_THREADS` (default: the number of cores) sets the thread count.
//! The last line is machine-readable for `bench/run`.
//!
//! Run: `cargo run --release --example argon2_rate`

// A benchmark tool, not the server: it may stop on the unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use latchkey::auth::{SecretHasher, Verification};

/// Minor page faults of this process so far (Linux; 0 elsewhere). A verification that gets its
/// ~19 MiB of Argon2 memory fresh from the kernel faults on every page of it (~4,900 faults);
/// one that reuses memory the allocator kept does not.
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = &s[s.rfind(')')? + 2..];
            rest.split(' ').nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")),
        Err(_) => default,
    }
}

/// Verifications per second with `threads` threads verifying for `duration`, and how many were
/// counted.
fn raw_rate(
    params: &Params,
    phc: &str,
    secret: &str,
    threads: usize,
    duration: Duration,
) -> (f64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (done, stop) = (done.clone(), stop.clone());
            let (params, phc, secret) = (params.clone(), phc.to_owned(), secret.to_owned());
            std::thread::spawn(move || {
                let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let parsed = PasswordHash::new(&phc).expect("a PHC string we just made");
                while !stop.load(Ordering::Relaxed) {
                    hasher
                        .verify_password(secret.as_bytes(), &parsed)
                        .expect("the right secret verifies");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    // Count only what finished inside the window, divided by the window: the verifications
    // still running when it closes are not counted, so this errs low by < 1 per thread.
    let counted = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    for h in handles {
        h.join().expect("verifier thread");
    }
    (counted as f64 / elapsed.as_secs_f64(), counted)
}

/// Verifications per second through `SecretHasher` (cache off), `tasks` concurrent callers.
async fn hasher_rate(
    params: Params,
    phc: String,
    secret: String,
    cores: usize,
    tasks: usize,
    duration: Duration,
) -> (f64, u64) {
    let hasher = Arc::new(SecretHasher::new(params, cores, 0).expect("valid parameters"));
    let deadline = tokio::time::Instant::now() + duration;
    let start = Instant::now();
    let counted = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (hasher, phc, secret, counted) =
            (hasher.clone(), phc.clone(), secret.clone(), counted.clone());
        set.spawn(async move {
            let live = vec![phc];
            while tokio::time::Instant::now() < deadline {
                let v = hasher
                    .verify("bench", &secret, Some(&live))
                    .await
                    .expect("verification runs");
                assert!(
                    matches!(v, Verification::Verified { .. }),
                    "the right secret verifies"
                );
                if tokio::time::Instant::now() <= deadline {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    let stats = hasher.stats();
    assert_eq!(stats.cache_hits, 0, "capacity 0 must keep the cache empty");
    let counted = counted.load(Ordering::Relaxed);
    (
        counted as f64 / start.elapsed().as_secs_f64().max(1e-9),
        counted,
    )
}

fn main() -> anyhow::Result<()> {
    let m = env_num("LATCHKEY_ARGON2_M_COST", 19_456u32);
    let t = env_num("LATCHKEY_ARGON2_T_COST", 2u32);
    let p = env_num("LATCHKEY_ARGON2_P_COST", 1u32);
    let seconds = env_num("BENCH_ARGON2_SECONDS", 5u64);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = env_num("BENCH_ARGON2_THREADS", cores);
    let params = Params::new(m, t, p, Some(32)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let secret = latchkey::auth::random::new_secret();
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    let window = Duration::from_secs(seconds);

    let faults_per =
        |before: u64, count: u64| (minor_faults() - before) as f64 / count.max(1) as f64;

    let (single, _) = raw_rate(
        &params,
        &phc,
        &secret,
        1,
        window.min(Duration::from_secs(2)),
    );
    println!(
        "argon2id m={m} t={t} p={p}: {:.1} ms per verification on one thread",
        1000.0 / single
    );
    let faults = minor_faults();
    let (raw, count) = raw_rate(&params, &phc, &secret, threads, window);
    let raw_faults = faults_per(faults, count);
    println!(
        "raw: {raw:.1} verifications/s on {threads} threads ({cores} cores), \
         {raw_faults:.0} page faults per verification"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    let faults = minor_faults();
    let (through_hasher, count) = runtime.block_on(hasher_rate(
        params,
        phc,
        secret,
        threads,
        threads * 8,
        window,
    ));
    let hasher_faults = faults_per(faults, count);
    println!(
        "SecretHasher (cache off, {threads} permits): {through_hasher:.1} verifications/s, \
         {hasher_faults:.0} page faults per verification"
    );
    println!(
        "RESULT single_ms={:.2} raw_per_sec={raw:.2} hasher_per_sec={through_hasher:.2} \
         raw_faults={raw_faults:.0} hasher_faults={hasher_faults:.0} threads={threads} m={m} t={t} p={p}",
        1000.0 / single
    );
    Ok(())
}

//! Per-instance application snapshots, kept fresh by LISTEN/NOTIFY.
//!
//! An application's snapshot is the set of entries this instance loaded for it on demand (a
//! client with its live secret verifiers, features, allow list and access schemas; an entity
//! type), each stamped with the application's revision read in the same statement. The
//! instance knows, per application, the latest revision it has heard of: from the
//! notifications every write transaction issues (`store::audit::append`), from its own writes
//! (each adapter applies the revisions a use case committed before it answers, see
//! `http::revision`) and from what it loads. An entry
//! is used only while
//!
//! * the instance is listening (a lost listener means nothing is trusted until it has
//!   re-listened and dropped everything: the `generation` check),
//! * and its revision is at least the latest known for its application.
//!
//! So a change made anywhere stops being served from memory as soon as its notification (or
//! own write) arrives, however the entries were loaded meanwhile. Entries are weighed in bytes
//! and evicted within the budget (CLOCK-PRO, an approximation of least recently used), so the memory does not grow with
//! the size of an application: a million-client application costs only its clients in use.
//!
//! In `strict` mode nothing is cached: every lookup reads the database.

pub mod listener;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::domain::entity_type::EntityType;
use crate::store::clients::ListedClient;
use crate::store::snapshots::{self, ClientEntry};
use crate::store::StoreResult;

pub use crate::store::tx::CHANNEL;

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// A usable snapshot entry, or the database.
    Snapshot,
    /// A snapshot entry at or past this revision, or the database.
    AtLeast(i64),
    /// The database.
    Database,
}

/// An entry with the revision of the application it was read at.
#[derive(Debug)]
pub struct Stamped<T> {
    pub revision: i64,
    generation: u64,
    pub value: T,
}

/// What an entry is kept under. Lookups name it by [`KeyRef`], borrowed from the request, so a
/// hit allocates nothing; the owned key is made only when an entry is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(String, String),
    EntityType(String, String),
    /// The application of a client id (the Registration API's routing step).
    AppOfClient(String),
    /// All clients of an application, as a listing shows them.
    Listing(String),
}

/// A [`Key`] borrowed. Its variants stand in the same order with `&str` for `String`, so the
/// derived `Hash` of the two agree (`String` hashes as `str`; tested below), which is what
/// [`quick_cache::Equivalent`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeyRef<'a> {
    Client(&'a str, &'a str),
    EntityType(&'a str, &'a str),
    AppOfClient(&'a str),
    Listing(&'a str),
}

impl KeyRef<'_> {
    fn to_key(self) -> Key {
        match self {
            KeyRef::Client(a, c) => Key::Client(a.to_owned(), c.to_owned()),
            KeyRef::EntityType(a, t) => Key::EntityType(a.to_owned(), t.to_owned()),
            KeyRef::AppOfClient(c) => Key::AppOfClient(c.to_owned()),
            KeyRef::Listing(a) => Key::Listing(a.to_owned()),
        }
    }
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (*self, key) {
            (KeyRef::Client(a, c), Key::Client(ka, kc))
            | (KeyRef::EntityType(a, c), Key::EntityType(ka, kc)) => a == ka && c == kc,
            (KeyRef::AppOfClient(c), Key::AppOfClient(kc)) => c == kc,
            (KeyRef::Listing(a), Key::Listing(ka)) => a == ka,
            _ => false,
        }
    }
}

/// The entries' weigher: [`weight`], at least 1 (quick_cache never evicts an entry of weight 0).
#[derive(Debug, Clone, Copy)]
struct EntryWeight;

impl quick_cache::Weighter<Key, Entry> for EntryWeight {
    fn weight(&self, key: &Key, entry: &Entry) -> u64 {
        u64::from(weight(key, entry)).max(1)
    }
}

/// The entries. quick_cache rather than moka: a hit is a read lock on one shard and no
/// bookkeeping queue (moka's lookups and their deferred maintenance were about 5 % of an access
/// decision's CPU, bench/README.md "Fifth session of 3 December 2026"). Keys hash with the standard library's
/// keyed SipHash: client ids come from callers, so the table must not be floodable.
type Entries =
    quick_cache::sync::Cache<Key, Entry, EntryWeight, std::collections::hash_map::RandomState>;

#[derive(Debug, Clone)]
enum Entry {
    /// The entry in an `Arc` of its own: authentication holds it (not a copy) while it checks.
    Client(Arc<Stamped<Option<Arc<ClientEntry>>>>),
    EntityType(Arc<Stamped<Option<TypeEntry>>>),
    AppOfClient(Arc<str>),
    Listing(Arc<Stamped<Vec<ListedClient>>>),
}

/// An entity type's stored `attr_defs`, and the type parsed from them: once per entry, on its
/// first use, then shared by every access decision that uses the entry (parsing the JSON on each
/// decision was a visible part of its cost: bench/README.md, "Instruction counts").
#[derive(Debug)]
pub struct TypeEntry {
    pub attr_defs: Value,
    parsed: OnceLock<Result<Arc<EntityType>, String>>,
}

impl TypeEntry {
    pub fn new(attr_defs: Value) -> Self {
        Self {
            attr_defs,
            parsed: OnceLock::new(),
        }
    }

    /// The parsed type, made by `parse` the first time (`Err`: the stored definition is
    /// unreadable; the message of the internal error it is reported as).
    pub fn parsed(
        &self,
        parse: impl FnOnce(&Value) -> Result<EntityType, String>,
    ) -> Result<Arc<EntityType>, String> {
        self.parsed
            .get_or_init(|| parse(&self.attr_defs).map(Arc::new))
            .clone()
    }
}

/// Bytes an entry is counted for (close enough for a budget: strings plus fixed overhead).
fn weight(key: &Key, entry: &Entry) -> u32 {
    let key_len = match key {
        Key::Client(a, c) | Key::EntityType(a, c) => a.len() + c.len(),
        Key::AppOfClient(c) | Key::Listing(c) => c.len(),
    };
    let value_len = match entry {
        Entry::Client(s) => s.value.as_ref().map_or(0, |c| {
            c.client.name.len()
                + c.client
                    .features
                    .iter()
                    .map(|f| f.len() + 24)
                    .sum::<usize>()
                + c.client.ip_whitelist.len() * 24
                + c.phcs.iter().map(|p| p.len() + 32).sum::<usize>()
                + c.schemas
                    .iter()
                    .map(|s| s.stored_len * 2 + 64)
                    .sum::<usize>()
                + 200
        }),
        Entry::EntityType(s) => s
            .value
            .as_ref()
            .map_or(0, |t| t.attr_defs.to_string().len() * 3),
        Entry::AppOfClient(a) => a.len(),
        Entry::Listing(s) => s
            .value
            .iter()
            .map(|c| {
                c.client_id.len()
                    + c.name.len()
                    + c.features.iter().map(|f| f.len() + 24).sum::<usize>()
                    + c.ip_whitelist.len() * 24
                    + 96
            })
            .sum(),
    };
    u32::try_from(key_len + value_len + 160).unwrap_or(u32::MAX)
}

/// Settings of the snapshots and the change feed.
#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    /// `false`: strict mode, every read goes to the database.
    pub enabled: bool,
    pub budget_bytes: u64,
    pub feed_max_subscribers: usize,
    pub feed_heartbeat: Duration,
    /// Events a slow feed subscriber may have waiting before it is disconnected.
    pub feed_buffer: usize,
}

impl SnapshotConfig {
    /// No snapshots (the command line, and `LATCHKEY_CONSISTENCY=strict`).
    pub fn strict() -> Self {
        Self {
            enabled: false,
            budget_bytes: 0,
            feed_max_subscribers: 0,
            feed_heartbeat: Duration::from_secs(15),
            feed_buffer: 256,
        }
    }
}

pub struct Snapshots {
    config: SnapshotConfig,
    entries: Entries,
    /// Latest revision heard of per application; its receivers are woken on every change.
    latest: RwLock<HashMap<String, watch::Sender<i64>>>,
    /// Moves on every listener loss and every re-listen: older entries are never used again.
    generation: AtomicU64,
    listening: AtomicBool,
    subscribers: AtomicUsize,
    /// Moves on every revision heard of, of any application (and every re-listen): what the
    /// sink workers wait on (`crate::sinks`).
    any_change: watch::Sender<u64>,
    listened_before: AtomicBool,
    /// Times the listener listened again after losing its connection.
    reconnects: AtomicU64,
    /// Applications found behind what this instance had heard of when it listened again (the
    /// database lost committed changes: an asynchronous failover).
    rewinds: AtomicU64,
}

impl Snapshots {
    pub fn new(config: SnapshotConfig) -> Self {
        // Sized for entries of about 1 KiB (a client with two secrets and a schema).
        let entries = Entries::with(
            usize::try_from(config.budget_bytes / 1024)
                .unwrap_or(usize::MAX)
                .max(16),
            config.budget_bytes.max(1),
            EntryWeight,
            Default::default(),
            Default::default(),
        );
        Self {
            config,
            entries,
            latest: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            subscribers: AtomicUsize::new(0),
            any_change: watch::channel(0).0,
            listened_before: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            rewinds: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &SnapshotConfig {
        &self.config
    }

    /// Whether entries may be served now (snapshot mode and a live listener).
    pub fn trusted(&self) -> bool {
        self.config.enabled && self.listening()
    }

    /// The listener is connected, has run LISTEN and has caught up (`relistened`), in either
    /// consistency mode: from here on no committed change escapes this instance.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// The latest revision of `app_id` this instance has heard of (0: none since it started).
    pub fn latest(&self, app_id: &str) -> i64 {
        let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
        map.get(app_id).map_or(0, |tx| *tx.borrow())
    }

    /// A committed revision of `app_id` became known: older entries of it are stale.
    pub fn observe(&self, app_id: &str, revision: i64) {
        self.any_change.send_modify(|n| *n = n.wrapping_add(1));
        {
            let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = map.get(app_id) {
                tx.send_if_modified(|v| raise(v, revision));
                return;
            }
        }
        let mut map = self.latest.write().unwrap_or_else(|e| e.into_inner());
        map.entry(app_id.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .send_if_modified(|v| raise(v, revision));
    }

    /// A receiver woken on every revision of any application heard of (and every re-listen).
    pub fn watch_any(&self) -> watch::Receiver<u64> {
        self.any_change.subscribe()
    }

    /// A receiver woken on every revision of `app_id` heard of (and on every re-listen).
    pub fn watch(&self, app_id: &str) -> watch::Receiver<i64> {
        {
            let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = map.get(app_id) {
                return tx.subscribe();
            }
        }
        let mut map = self.latest.write().unwrap_or_else(|e| e.into_inner());
        map.entry(app_id.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// A notification payload, `"<revision> <app_id>"`.
    pub fn notified(&self, payload: &str) {
        let parsed = payload
            .split_once(' ')
            .and_then(|(rev, app)| rev.parse::<i64>().ok().map(|r| (r, app)));
        match parsed {
            Some((revision, app_id)) => self.observe(app_id, revision),
            None => tracing::warn!(payload, "ignoring a malformed change notification"),
        }
    }

    /// The listening connection is gone: notifications may be missed from now on.
    pub fn lost(&self) {
        self.listening.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The applications this instance has heard of (their revisions are checked when it
    /// listens again, see [`Snapshots::caught_up`]).
    pub fn known_apps(&self) -> Vec<String> {
        let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    /// The newest revisions in the database, read after `LISTEN` and before trusting anything:
    /// later changes will be notified, these are what the gap may have hidden. A revision
    /// behind the one heard of means the database lost committed changes (a failover to a
    /// standby that had not received them): the latest known is brought back to the
    /// database's, so that the application's entries can be trusted again once reloaded (all
    /// are dropped by [`Snapshots::relistened`]), and the loss is logged and counted.
    pub fn caught_up(&self, heads: &[(String, i64)]) {
        for (app_id, revision) in heads {
            let heard = self.latest(app_id);
            if *revision < heard {
                self.rewinds.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    app_id,
                    heard,
                    database = revision,
                    "the database is behind a revision this instance heard of: committed \
                     changes were lost (asynchronous failover?)"
                );
                let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
                if let Some(tx) = map.get(app_id) {
                    tx.send_replace(*revision);
                }
            } else {
                self.observe(app_id, *revision);
            }
        }
    }

    /// Listening again: drop everything loaded before, trust new entries, wake the feeds (they
    /// re-read the audit table, which covers what the gap hid).
    pub fn relistened(&self) {
        if self.listened_before.swap(true, Ordering::AcqRel) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.entries.clear();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.listening.store(true, Ordering::Release);
        let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
        for tx in map.values() {
            tx.send_modify(|_| {});
        }
        self.any_change.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn usable<T>(&self, app_id: &str, s: &Stamped<T>, freshness: Freshness) -> bool {
        let floor = match freshness {
            Freshness::Snapshot => 0,
            Freshness::AtLeast(r) => r,
            Freshness::Database => return false,
        };
        self.trusted()
            && s.generation == self.generation.load(Ordering::Acquire)
            && s.revision >= floor
            && s.revision >= self.latest(app_id)
    }

    /// The generation to stamp a load with, or `None` when what is loaded must not be kept.
    fn load_generation(&self) -> Option<u64> {
        self.trusted()
            .then(|| self.generation.load(Ordering::Acquire))
    }

    /// A client of `app_id` (`Ok(None)`: no such application).
    pub async fn client(
        &self,
        pool: &PgPool,
        app_id: &str,
        client_id: &str,
        freshness: Freshness,
    ) -> StoreResult<Option<Arc<Stamped<Option<Arc<ClientEntry>>>>>> {
        self.lookup(
            KeyRef::Client(app_id, client_id),
            app_id,
            freshness,
            |e| match e {
                Entry::Client(s) => Some(s),
                _ => None,
            },
            Entry::Client,
            async move {
                Ok(snapshots::client(pool, app_id, client_id)
                    .await?
                    .map(|(revision, entry)| (revision, entry.map(Arc::new))))
            },
        )
        .await
    }

    /// This instance's entry of a client if it holds one usable now, without loading one: for a
    /// question the database answers more cheaply than a client entry's reload (after a write
    /// to an application every entry of it is stale).
    pub fn held_client(
        &self,
        app_id: &str,
        client_id: &str,
    ) -> Option<Arc<Stamped<Option<Arc<ClientEntry>>>>> {
        let held = match self.entries.get(&KeyRef::Client(app_id, client_id))? {
            Entry::Client(s) => s,
            _ => return None,
        };
        self.usable(app_id, &held, Freshness::Snapshot)
            .then_some(held)
    }

    /// An entity type's `attr_defs` (`Ok(None)`: no such application).
    pub async fn entity_type(
        &self,
        pool: &PgPool,
        app_id: &str,
        type_name: &str,
        freshness: Freshness,
    ) -> StoreResult<Option<Arc<Stamped<Option<TypeEntry>>>>> {
        self.lookup(
            KeyRef::EntityType(app_id, type_name),
            app_id,
            freshness,
            |e| match e {
                Entry::EntityType(s) => Some(s),
                _ => None,
            },
            Entry::EntityType,
            async move {
                Ok(snapshots::entity_type(pool, app_id, type_name)
                    .await?
                    .map(|(revision, defs)| (revision, defs.map(TypeEntry::new))))
            },
        )
        .await
    }

    /// All clients of `app_id`, oldest first (`Ok(None)`: no such application). One entry per
    /// application, replaced as a whole on its next use after any change to the application:
    /// a listing of an application whose clients change all the time is read from `pool`
    /// each time, as without snapshots.
    pub async fn listing(
        &self,
        pool: &PgPool,
        app_id: &str,
        freshness: Freshness,
    ) -> StoreResult<Option<Arc<Stamped<Vec<ListedClient>>>>> {
        self.lookup(
            KeyRef::Listing(app_id),
            app_id,
            freshness,
            |e| match e {
                Entry::Listing(s) => Some(s),
                _ => None,
            },
            Entry::Listing,
            snapshots::listing(pool, app_id),
        )
        .await
    }

    /// A usable entry, or `load` (not started unless needed) kept for next time.
    async fn lookup<T>(
        &self,
        key: KeyRef<'_>,
        app_id: &str,
        freshness: Freshness,
        unwrap: fn(Entry) -> Option<Arc<Stamped<T>>>,
        wrap: fn(Arc<Stamped<T>>) -> Entry,
        load: impl std::future::Future<Output = StoreResult<Option<(i64, T)>>>,
    ) -> StoreResult<Option<Arc<Stamped<T>>>> {
        if let Some(s) = self.entries.get(&key).and_then(unwrap) {
            if self.usable(app_id, &s, freshness) {
                return Ok(Some(s));
            }
        }
        let generation = self.load_generation();
        let Some((revision, value)) = load.await? else {
            return Ok(None);
        };
        Ok(Some(self.keep(
            key.to_key(),
            app_id,
            generation,
            revision,
            value,
            wrap,
        )))
    }

    fn keep<T>(
        &self,
        key: Key,
        app_id: &str,
        generation: Option<u64>,
        revision: i64,
        value: T,
        wrap: fn(Arc<Stamped<T>>) -> Entry,
    ) -> Arc<Stamped<T>> {
        let stamped = Arc::new(Stamped {
            revision,
            generation: generation.unwrap_or(u64::MAX),
            value,
        });
        if let Some(generation) = generation {
            // What was just read is committed: entries older than it are stale.
            self.observe(app_id, revision);
            let entry = wrap(stamped.clone());
            // No entry takes more than an eighth of the budget (a listing of a very large
            // application): it would push out the many small entries the hot paths use.
            // (quick_cache refuses anything heavier than a shard's share of the budget anyway.)
            let small = u64::from(weight(&key, &entry))
                <= (self.config.budget_bytes / 8).min(self.entries.shard_capacity());
            if small && generation == self.generation.load(Ordering::Acquire) {
                self.entries.insert(key, entry);
            }
        }
        stamped
    }

    /// Drops this instance's entry of a client, after a change that writes no audit event (and
    /// so no notification), such as sealing a secret on its first use.
    pub fn forget_client(&self, app_id: &str, client_id: &str) {
        self.entries.remove(&KeyRef::Client(app_id, client_id));
    }

    /// The application a client id belongs to, if remembered. Ids are unique across
    /// applications; a stale answer is caught because the client then is not found there.
    pub fn app_of_client(&self, client_id: &str) -> Option<Arc<str>> {
        if !self.trusted() {
            return None;
        }
        match self.entries.get(&KeyRef::AppOfClient(client_id)) {
            Some(Entry::AppOfClient(app)) => Some(app),
            _ => None,
        }
    }

    pub fn remember_app_of_client(&self, client_id: &str, app_id: &str) {
        if self.trusted() {
            self.entries.insert(
                Key::AppOfClient(client_id.to_owned()),
                Entry::AppOfClient(Arc::from(app_id)),
            );
        }
    }

    pub fn forget_app_of_client(&self, client_id: &str) {
        self.entries.remove(&KeyRef::AppOfClient(client_id));
    }

    /// Takes a change-feed place, or `None` at the limit. The place is given back on drop.
    pub fn feed_place(self: &Arc<Self>) -> Option<FeedPlace> {
        let max = self.config.feed_max_subscribers;
        self.subscribers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| FeedPlace(self.clone()))
    }

    /// Change-feed subscribers connected now.
    pub fn feed_subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }

    /// Times the listener listened again after a loss, and applications found behind what was
    /// heard of then (see [`Snapshots::caught_up`]), for metrics.
    pub fn listener_counts(&self) -> (u64, u64) {
        (
            self.reconnects.load(Ordering::Relaxed),
            self.rewinds.load(Ordering::Relaxed),
        )
    }

    /// Entries held and their weight in bytes, for metrics.
    pub fn size(&self) -> (u64, u64) {
        (self.entries.len() as u64, self.entries.weight())
    }
}

/// One change-feed subscriber's place (see [`Snapshots::feed_place`]).
pub struct FeedPlace(Arc<Snapshots>);

impl Drop for FeedPlace {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

fn raise(current: &mut i64, revision: i64) -> bool {
    if revision > *current {
        *current = revision;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshots() -> Snapshots {
        Snapshots::new(SnapshotConfig {
            enabled: true,
            budget_bytes: 1 << 20,
            ..SnapshotConfig::strict()
        })
    }

    #[test]
    fn a_borrowed_key_finds_what_its_owned_key_keeps() {
        use std::hash::BuildHasher;
        let hasher = std::collections::hash_map::RandomState::new();
        for borrowed in [
            KeyRef::Client("app", "client"),
            KeyRef::EntityType("app", "client"),
            KeyRef::AppOfClient("client"),
            KeyRef::Listing("app"),
        ] {
            let owned = borrowed.to_key();
            assert_eq!(
                hasher.hash_one(borrowed),
                hasher.hash_one(&owned),
                "{owned:?}"
            );
            assert!(quick_cache::Equivalent::equivalent(&borrowed, &owned));
        }
        // Same strings, other kind of entry: not the same key.
        assert!(!quick_cache::Equivalent::equivalent(
            &KeyRef::EntityType("app", "client"),
            &Key::Client("app".into(), "client".into())
        ));
        let s = snapshots();
        s.relistened();
        s.remember_app_of_client("client", "app");
        assert_eq!(s.app_of_client("client").as_deref(), Some("app"));
        s.forget_app_of_client("client");
        assert_eq!(s.app_of_client("client"), None);
    }

    fn stamped(revision: i64, generation: u64) -> Stamped<()> {
        Stamped {
            revision,
            generation,
            value: (),
        }
    }

    #[test]
    fn nothing_is_trusted_before_listening() {
        let s = snapshots();
        assert!(!s.usable("a", &stamped(5, 0), Freshness::Snapshot));
        s.relistened();
        assert!(s.usable("a", &stamped(5, 1), Freshness::Snapshot));
    }

    #[test]
    fn a_newer_revision_makes_entries_stale() {
        let s = snapshots();
        s.relistened();
        s.notified("7 app one");
        assert_eq!(s.latest("app one"), 7);
        assert!(!s.usable("app one", &stamped(6, 1), Freshness::Snapshot));
        assert!(s.usable("app one", &stamped(7, 1), Freshness::Snapshot));
        // Other applications are not affected; an older notification changes nothing.
        assert!(s.usable("b", &stamped(1, 1), Freshness::Snapshot));
        s.notified("3 app one");
        assert_eq!(s.latest("app one"), 7);
    }

    #[test]
    fn a_gap_kills_every_entry_loaded_before_it() {
        let s = snapshots();
        s.relistened();
        let before = stamped(9, s.generation.load(Ordering::Acquire));
        s.lost();
        assert!(!s.trusted());
        s.relistened();
        assert!(!s.usable("a", &before, Freshness::Snapshot));
    }

    #[test]
    fn catching_up_raises_or_brings_back_the_latest_revision() {
        let s = snapshots();
        s.relistened();
        s.notified("7 a");
        s.notified("3 b");
        assert_eq!(s.listener_counts(), (0, 0));
        s.lost();
        // The database: `a` lost revisions 6 and 7, `b` moved on while nobody listened.
        s.caught_up(&[("a".into(), 5), ("b".into(), 9)]);
        s.relistened();
        assert_eq!((s.latest("a"), s.latest("b")), (5, 9));
        assert_eq!(s.listener_counts(), (1, 1));
        let generation = s.generation.load(Ordering::Acquire);
        assert!(s.usable("a", &stamped(5, generation), Freshness::Snapshot));
        assert!(!s.usable("b", &stamped(8, generation), Freshness::Snapshot));
    }

    #[test]
    fn freshness_floors() {
        let s = snapshots();
        s.relistened();
        assert!(!s.usable("a", &stamped(4, 1), Freshness::AtLeast(5)));
        assert!(s.usable("a", &stamped(5, 1), Freshness::AtLeast(5)));
        assert!(!s.usable("a", &stamped(5, 1), Freshness::Database));
    }

    #[test]
    fn no_entry_heavier_than_an_eighth_of_the_budget_is_kept() {
        let s = snapshots();
        s.relistened();
        let generation = Some(s.generation.load(Ordering::Acquire));
        let clients = |n: usize| -> Vec<ListedClient> {
            (0..n)
                .map(|i| ListedClient {
                    client_id: format!("{i:032}"),
                    name: format!("client {i}"),
                    features: vec!["direct_access".into()],
                    ip_whitelist: vec!["0.0.0.0/0".parse().unwrap()],
                    version: 1,
                })
                .collect()
        };
        // About 200 bytes a client against 1 MiB / 8 = 131,072.
        for (n, kept) in [(100, true), (1_000, false)] {
            let key = Key::Listing(format!("app{n}"));
            let shown = s.keep(
                key.clone(),
                "app",
                generation,
                1,
                clients(n),
                Entry::Listing,
            );
            assert_eq!(shown.value.len(), n, "the answer has every client");
            assert_eq!(s.entries.contains_key(&key), kept, "{n} clients");
        }
    }

    #[test]
    fn strict_mode_trusts_nothing() {
        let s = Snapshots::new(SnapshotConfig::strict());
        s.relistened();
        assert!(!s.trusted());
    }

    #[test]
    fn feed_places_are_limited_and_given_back() {
        let s = Arc::new(Snapshots::new(SnapshotConfig {
            feed_max_subscribers: 1,
            ..SnapshotConfig::strict()
        }));
        let first = s.feed_place();
        assert!(first.is_some());
        assert!(s.feed_place().is_none());
        drop(first);
        assert!(s.feed_place().is_some());
    }
}

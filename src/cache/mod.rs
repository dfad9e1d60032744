//! Per-instance application snapshots, kept fresh by LISTEN/NOTIFY.
//!
//! An application's snapshot is the set of entries this instance loaded for it on demand (a
//! client with its live secret verifiers, features, allow list and access schemas; an entity
//! type; the listing of its clients), each stamped with the application's revision read in the
//! same statement. The instance knows, per application, the latest revision it has heard of,
//! and for the changes up to it what each reached (one client, or the whole application): from
//! the notifications every write transaction issues (`store::audit::append`), from its own
//! writes (each adapter applies the revisions a use case committed before it answers, see
//! `http::revision`) and, the revision only, from what it loads. An entry is used only while
//!
//! * the instance is listening (a lost listener means nothing is trusted until it has
//!   re-listened and dropped everything: the `generation` check),
//! * and every change after its revision up to the latest known is known and reached nothing
//!   of it: a client's entry is stale after a change to that client or to the whole
//!   application, an entity type's after one to the whole application, a listing after any.
//!
//! So a change made anywhere stops being served from memory as soon as its notification (or
//! own write) arrives, however the entries were loaded meanwhile, and a write to one client
//! leaves the other clients' entries in use (a PUT load on one application no longer reloads
//! its callers: bench/README.md, "4 December 2026, second session: snapshot staleness per entry"). Entries are weighed in bytes
//! and evicted within the budget (CLOCK-PRO, an approximation of least recently used), so the memory does not grow with
//! the size of an application: a million-client application costs only its clients in use.
//!
//! In `strict` mode nothing is cached: every lookup reads the database.

pub mod listener;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::domain::entity_type::EntityType;
use crate::store::clients::ListedClient;
use crate::store::snapshots::{self, ClientEntry};
use crate::store::{Revisions, StoreResult};

pub use crate::store::tx::{CHANNEL, WHOLE_APPLICATION};

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

/// An entry with the revision of the application it is known to be current at.
#[derive(Debug)]
pub struct Stamped<T> {
    /// Read at this revision, then raised to each later revision heard of whose changes, all
    /// known, reached nothing of this entry (see [`Snapshots::usable`]).
    current_at: AtomicI64,
    generation: u64,
    pub value: T,
}

impl<T> Stamped<T> {
    /// The newest revision of its application this entry is known to be current at.
    pub fn revision(&self) -> i64 {
        self.current_at.load(Ordering::Acquire)
    }
}

/// What of an application's changes can make an entry stale.
#[derive(Debug, Clone, Copy)]
enum Reach<'a> {
    /// A client's entry: a change to that client, or one to the whole application.
    Client(&'a str),
    /// An entity type's: a change to the whole application.
    Application,
    /// A listing's: any change.
    AnyChange,
}

impl Reach<'_> {
    /// Whether a change that reached `only_client` (`None`: the whole application) reaches this.
    fn reached_by(self, only_client: Option<&str>) -> bool {
        match (self, only_client) {
            (Reach::AnyChange, _) | (_, None) => true,
            (Reach::Client(c), Some(changed)) => c == changed,
            (Reach::Application, Some(_)) => false,
        }
    }
}

/// An application's latest revision heard of, and the changes heard of before it with what
/// each reached: an entry read at an older revision is still current if every change since is
/// known and none reached it (a write to one client leaves the others' entries usable).
struct AppRevisions {
    /// Its receivers are woken on every change.
    latest: watch::Sender<i64>,
    changes: Mutex<ChangeLog>,
}

impl AppRevisions {
    fn new() -> Self {
        Self {
            latest: watch::channel(0).0,
            changes: Mutex::new(ChangeLog::default()),
        }
    }
}

/// Changes heard of, by the revision each ended at: `(from, only_client)`. Changes are whole
/// transactions under the chain head's lock, so they never overlap; a revision heard of without
/// its change (a load that read a newer revision than notified, a notification of an older
/// release, one pushed out of here) is a gap, and an entry older than a gap is stale.
#[derive(Debug, Default)]
struct ChangeLog(BTreeMap<i64, (i64, Option<Box<str>>)>);

impl ChangeLog {
    /// Changes kept per application: an entry older than the oldest is reloaded.
    const KEPT: usize = 1024;

    fn insert(&mut self, from: i64, seq: i64, only_client: Option<&str>) {
        use std::collections::btree_map::Entry as Slot;
        match self.0.entry(seq) {
            Slot::Vacant(slot) => {
                slot.insert((from, only_client.map(Box::from)));
            }
            Slot::Occupied(mut slot) => {
                // Heard twice (the writer's own commit, then its notification): the same. Told
                // differently, trust neither's reach.
                let known = slot.get_mut();
                if known.0 != from || known.1.as_deref() != only_client {
                    *known = (known.0.min(from), None);
                }
            }
        }
        while self.0.len() > Self::KEPT {
            self.0.pop_first();
        }
    }

    /// Whether every change after `since` up to `until` is known and none reached `reach`.
    fn untouched(&self, since: i64, until: i64, reach: Reach<'_>) -> bool {
        let mut covered = since;
        for (&seq, (from, only_client)) in self.0.range(since + 1..) {
            if covered >= until {
                break;
            }
            if *from > covered || reach.reached_by(only_client.as_deref()) {
                return false;
            }
            covered = seq;
        }
        covered >= until
    }
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

impl<'a> KeyRef<'a> {
    /// The changes that make the entry kept under this key stale.
    fn reach(self) -> Reach<'a> {
        match self {
            KeyRef::Client(_, client_id) => Reach::Client(client_id),
            KeyRef::EntityType(..) => Reach::Application,
            KeyRef::Listing(_) => Reach::AnyChange,
            // Never checked against revisions (`app_of_client`: a stale answer is caught when
            // the client is not found there); the safe answer if it ever is.
            KeyRef::AppOfClient(_) => Reach::AnyChange,
        }
    }

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
    /// Per application, the latest revision heard of and the changes before it.
    latest: RwLock<HashMap<String, AppRevisions>>,
    /// When the listener last listened again: changes this instance committed in transactions
    /// begun before then are not trusted for what they reached (see [`Snapshots::committed`]).
    listening_since: RwLock<Option<Instant>>,
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
    /// Entries read from the database while snapshots were trusted (no usable one was held).
    loads: AtomicU64,
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
            listening_since: RwLock::new(None),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            subscribers: AtomicUsize::new(0),
            any_change: watch::channel(0).0,
            listened_before: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            loads: AtomicU64::new(0),
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
        map.get(app_id).map_or(0, |a| *a.latest.borrow())
    }

    /// Runs `f` on the state of `app_id`, made if it has none yet.
    fn with_app<R>(&self, app_id: &str, f: impl FnOnce(&AppRevisions) -> R) -> R {
        {
            let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
            if let Some(app) = map.get(app_id) {
                return f(app);
            }
        }
        let mut map = self.latest.write().unwrap_or_else(|e| e.into_inner());
        f(map
            .entry(app_id.to_owned())
            .or_insert_with(AppRevisions::new))
    }

    /// A committed revision of `app_id` became known, but not what changed up to it: entries
    /// older than it are stale until the changes up to it are heard of.
    pub fn observe(&self, app_id: &str, revision: i64) {
        self.any_change.send_modify(|n| *n = n.wrapping_add(1));
        self.with_app(app_id, |app| {
            app.latest.send_if_modified(|v| raise(v, revision));
        });
    }

    /// A committed change of `app_id` from revision `from` to `seq` became known, which
    /// reached only `only_client` (`None`: possibly any entry of the application).
    fn observe_change(&self, app_id: &str, from: i64, seq: i64, only_client: Option<&str>) {
        self.any_change.send_modify(|n| *n = n.wrapping_add(1));
        self.with_app(app_id, |app| {
            // Known before it is latest: a check that sees the new latest finds the change.
            app.changes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(from, seq, only_client);
            app.latest.send_if_modified(|v| raise(v, seq));
        });
    }

    /// What this instance itself committed (each surface calls this before it answers, see
    /// `http::revision`), so that whoever wrote reads it back from any later request without
    /// waiting for the notification. What each change reached is trusted only when the
    /// transaction began while the listener was listening: one begun before it listened again
    /// may have committed on a primary that was then lost, whose revisions the new primary
    /// reuses for other changes.
    pub fn committed(&self, revisions: &Revisions) {
        let since = *self
            .listening_since
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let trusted =
            matches!((since, revisions.began()), (Some(since), Some(began)) if began >= since);
        for r in revisions.iter() {
            if trusted {
                self.observe_change(r.app_id, r.from, r.seq, r.only_client);
            } else {
                self.observe(r.app_id, r.seq);
            }
        }
    }

    /// A receiver woken on every revision of any application heard of (and every re-listen).
    pub fn watch_any(&self) -> watch::Receiver<u64> {
        self.any_change.subscribe()
    }

    /// A receiver woken on every revision of `app_id` heard of (and on every re-listen).
    pub fn watch(&self, app_id: &str) -> watch::Receiver<i64> {
        self.with_app(app_id, |app| app.latest.subscribe())
    }

    /// A notification payload (described at [`CHANNEL`]).
    pub fn notified(&self, payload: &str) {
        let mut parts = payload.split(' ');
        let (Some(Ok(seq)), Some(app_id)) = (parts.next().map(str::parse::<i64>), parts.next())
        else {
            tracing::warn!(payload, "ignoring a malformed change notification");
            return;
        };
        match (
            parts.next().map(str::parse::<i64>),
            parts.next(),
            parts.next(),
        ) {
            (Some(Ok(from)), Some(client), None) if from < seq => {
                let only_client = (client != WHOLE_APPLICATION).then_some(client);
                self.observe_change(app_id, from, seq, only_client);
            }
            // A release before changes named what they reached: the revision only.
            (None, ..) => self.observe(app_id, seq),
            _ => {
                tracing::warn!(
                    payload,
                    "a change notification not understood; its revision only"
                );
                self.observe(app_id, seq);
            }
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
                if let Some(app) = map.get(app_id) {
                    app.latest.send_replace(*revision);
                }
            } else {
                self.observe(app_id, *revision);
            }
        }
    }

    /// Listening again: drop everything loaded before and every change heard of (after a
    /// failover the new primary may reuse their revisions), trust new entries, wake the feeds
    /// (they re-read the audit table, which covers what the gap hid).
    pub fn relistened(&self) {
        if self.listened_before.swap(true, Ordering::AcqRel) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        *self
            .listening_since
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.entries.clear();
        self.generation.fetch_add(1, Ordering::AcqRel);
        let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
        for app in map.values() {
            app.changes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .clear();
        }
        self.listening.store(true, Ordering::Release);
        for app in map.values() {
            app.latest.send_modify(|_| {});
        }
        self.any_change.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether `s`, an entry of `app_id` that changes reaching `reach` make stale, may answer
    /// now: the instance listens, the entry was loaded since it last listened again, and no
    /// change heard of since the entry's revision reached it (when every one is known and none
    /// did, the entry's revision is raised to the latest, so the next check is one comparison).
    fn usable<T>(
        &self,
        app_id: &str,
        s: &Stamped<T>,
        reach: Reach<'_>,
        freshness: Freshness,
    ) -> bool {
        let floor = match freshness {
            Freshness::Snapshot => 0,
            Freshness::AtLeast(r) => r,
            Freshness::Database => return false,
        };
        if !self.trusted() || s.generation != self.generation.load(Ordering::Acquire) {
            return false;
        }
        let mut current = s.revision();
        let map = self.latest.read().unwrap_or_else(|e| e.into_inner());
        if let Some(app) = map.get(app_id) {
            let latest = *app.latest.borrow();
            if current < latest {
                let untouched = app
                    .changes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .untouched(current, latest, reach);
                if !untouched {
                    return false;
                }
                s.current_at.fetch_max(latest, Ordering::AcqRel);
                current = latest;
            }
        }
        current >= floor
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
    /// question the database answers more cheaply than a client entry's reload (the entry of a
    /// client just written is stale).
    pub fn held_client(
        &self,
        app_id: &str,
        client_id: &str,
    ) -> Option<Arc<Stamped<Option<Arc<ClientEntry>>>>> {
        let key = KeyRef::Client(app_id, client_id);
        let held = match self.entries.get(&key)? {
            Entry::Client(s) => s,
            _ => return None,
        };
        self.usable(app_id, &held, key.reach(), Freshness::Snapshot)
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
            if self.usable(app_id, &s, key.reach(), freshness) {
                return Ok(Some(s));
            }
        }
        let generation = self.load_generation();
        if generation.is_some() {
            self.loads.fetch_add(1, Ordering::Relaxed);
        }
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
            current_at: AtomicI64::new(revision),
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

    /// Entries read from the database while trusted since start (misses and stale entries),
    /// for metrics.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
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
            current_at: AtomicI64::new(revision),
            generation,
            value: (),
        }
    }

    #[test]
    fn nothing_is_trusted_before_listening() {
        let s = snapshots();
        assert!(!s.usable("a", &stamped(5, 0), Reach::Client("c"), Freshness::Snapshot));
        s.relistened();
        assert!(s.usable("a", &stamped(5, 1), Reach::Client("c"), Freshness::Snapshot));
    }

    #[test]
    fn a_newer_revision_makes_entries_stale() {
        let s = snapshots();
        s.relistened();
        // A notification of an older release: the revision only, nothing of what it reached.
        s.notified("7 appone");
        assert_eq!(s.latest("appone"), 7);
        assert!(!s.usable(
            "appone",
            &stamped(6, 1),
            Reach::Client("c"),
            Freshness::Snapshot
        ));
        assert!(!s.usable(
            "appone",
            &stamped(6, 1),
            Reach::Application,
            Freshness::Snapshot
        ));
        assert!(s.usable(
            "appone",
            &stamped(7, 1),
            Reach::Client("c"),
            Freshness::Snapshot
        ));
        // Other applications are not affected; an older notification changes nothing.
        assert!(s.usable("b", &stamped(1, 1), Reach::Client("c"), Freshness::Snapshot));
        s.notified("3 appone 2 *");
        assert_eq!(s.latest("appone"), 7);
    }

    /// The property bench (b) needs: a write to one client leaves the other clients' entries
    /// (its caller's among them) in use; and what the safety of that rests on.
    #[test]
    fn a_change_reaches_the_entries_it_names_and_no_others() {
        let s = snapshots();
        s.relistened();
        let g = s.generation.load(Ordering::Acquire);
        let (caller, written, schema) = (stamped(3, g), stamped(3, g), stamped(3, g));
        let listing = stamped(3, g);
        s.notified("4 a 3 written");
        assert!(s.usable("a", &caller, Reach::Client("caller"), Freshness::Snapshot));
        assert_eq!(
            caller.revision(),
            4,
            "raised: the next check is one comparison"
        );
        assert!(!s.usable("a", &written, Reach::Client("written"), Freshness::Snapshot));
        assert!(s.usable("a", &schema, Reach::Application, Freshness::Snapshot));
        assert!(!s.usable("a", &listing, Reach::AnyChange, Freshness::Snapshot));
        // `atLeastAsFresh` is met by the raised revision.
        assert!(s.usable(
            "a",
            &stamped(3, g),
            Reach::Client("caller"),
            Freshness::AtLeast(4)
        ));
        assert!(!s.usable(
            "a",
            &stamped(3, g),
            Reach::Client("caller"),
            Freshness::AtLeast(5)
        ));
        // A change to the whole application (an entity type, an option) reaches everything.
        s.notified("5 a 4 *");
        assert!(!s.usable("a", &caller, Reach::Client("caller"), Freshness::Snapshot));
        assert!(!s.usable("a", &schema, Reach::Application, Freshness::Snapshot));
    }

    #[test]
    fn a_revision_heard_of_without_its_change_is_a_gap_until_the_change_arrives() {
        let s = snapshots();
        s.relistened();
        let g = s.generation.load(Ordering::Acquire);
        let caller = stamped(5, g);
        // A load read revision 7 before 6 and 7 were notified.
        s.observe("a", 7);
        assert!(!s.usable("a", &caller, Reach::Client("caller"), Freshness::Snapshot));
        s.notified("7 a 6 x");
        assert!(!s.usable("a", &caller, Reach::Client("caller"), Freshness::Snapshot));
        s.notified("6 a 5 y");
        assert!(s.usable("a", &caller, Reach::Client("caller"), Freshness::Snapshot));
        // Malformed and inconsistent payloads: the revision only (a gap), never a reach.
        for (n, payload) in ["9 a 7 x", "10 a 10 z", "11 a nine z", "12 a 11 z extra"]
            .into_iter()
            .enumerate()
        {
            let entry = stamped(s.latest("a"), g);
            s.notified(payload);
            assert_eq!(
                s.usable("a", &entry, Reach::Client("caller"), Freshness::Snapshot),
                n == 0,
                "{payload}"
            );
        }
    }

    #[test]
    fn a_change_told_twice_differently_reaches_everything() {
        let mut log = ChangeLog::default();
        log.insert(1, 2, Some("x"));
        log.insert(1, 2, Some("x"));
        assert!(log.untouched(1, 2, Reach::Client("y")));
        log.insert(1, 2, Some("y"));
        assert!(!log.untouched(1, 2, Reach::Client("z")));
        assert!(!log.untouched(1, 2, Reach::Application));
    }

    #[test]
    fn only_the_newest_changes_are_kept_and_older_entries_are_stale() {
        let s = snapshots();
        s.relistened();
        let g = s.generation.load(Ordering::Acquire);
        let (old, recent) = (stamped(0, g), stamped(10, g));
        let kept = i64::try_from(ChangeLog::KEPT).unwrap();
        for seq in 1..=kept + 10 {
            s.notified(&format!("{seq} a {} x", seq - 1));
        }
        assert!(!s.usable("a", &old, Reach::Client("c"), Freshness::Snapshot));
        assert!(s.usable("a", &recent, Reach::Client("c"), Freshness::Snapshot));
    }

    #[test]
    fn own_commits_are_trusted_for_their_reach_only_when_begun_while_listening() {
        let s = snapshots();
        let before = Instant::now();
        s.relistened();
        let g = s.generation.load(Ordering::Acquire);
        let entry = stamped(1, g);
        // Begun before the listener listened again: perhaps on a lost primary.
        s.committed(&Revisions::for_tests(before, &[("a", 1, 2, Some("x"))]));
        assert_eq!(s.latest("a"), 2);
        assert!(!s.usable("a", &entry, Reach::Client("c"), Freshness::Snapshot));
        s.committed(&Revisions::for_tests(
            Instant::now(),
            &[("a", 2, 3, Some("x")), ("a", 3, 4, Some("y"))],
        ));
        let entry = stamped(2, g);
        assert!(s.usable("a", &entry, Reach::Client("c"), Freshness::Snapshot));
        assert_eq!(entry.revision(), 4);
        // Listening again forgets every change heard of.
        s.lost();
        s.relistened();
        s.observe("a", 5);
        let g = s.generation.load(Ordering::Acquire);
        assert!(!s.usable("a", &stamped(3, g), Reach::Client("c"), Freshness::Snapshot));
    }

    #[test]
    fn a_gap_kills_every_entry_loaded_before_it() {
        let s = snapshots();
        s.relistened();
        let before = stamped(9, s.generation.load(Ordering::Acquire));
        s.lost();
        assert!(!s.trusted());
        s.relistened();
        assert!(!s.usable("a", &before, Reach::Client("c"), Freshness::Snapshot));
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
        assert!(s.usable(
            "a",
            &stamped(5, generation),
            Reach::Client("c"),
            Freshness::Snapshot
        ));
        assert!(!s.usable(
            "b",
            &stamped(8, generation),
            Reach::Client("c"),
            Freshness::Snapshot
        ));
    }

    #[test]
    fn freshness_floors() {
        let s = snapshots();
        s.relistened();
        assert!(!s.usable(
            "a",
            &stamped(4, 1),
            Reach::Client("c"),
            Freshness::AtLeast(5)
        ));
        assert!(s.usable(
            "a",
            &stamped(5, 1),
            Reach::Client("c"),
            Freshness::AtLeast(5)
        ));
        assert!(!s.usable("a", &stamped(5, 1), Reach::Client("c"), Freshness::Database));
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

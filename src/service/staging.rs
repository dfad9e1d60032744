//! The staging toolkit's service: application snapshots (`app_snapshots.rs`), fixtures
//! (`fixtures.rs`) and the vendor import (`migration.rs`), all reached as `service.staging()`.

use sqlx::PgPool;

use super::apps::AppDirectory;
use super::replica::Replica;
use super::sealing::SecretMint;
use super::Latchkey;
use crate::auth::SecretHasher;

/// The staging use cases, reached as `service.staging()`: saving, listing, deleting and
/// restoring snapshots, applying and exporting fixtures, importing a vendor application. They
/// hold the pool, the application check, the read replica (an export may read there), what
/// mints and stores a secret ([`SecretMint`]: a fixture's new clients and pinned secrets) and
/// the secret hasher (a pinned secret that already verifies is left as it is); not the sealing
/// key ring itself, nor the snapshots.
#[derive(Clone)]
pub struct StagingService<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) apps: &'a AppDirectory,
    pub(super) replica: Option<&'a Replica>,
    pub(super) secrets: SecretMint<'a>,
    pub(super) hasher: &'a SecretHasher,
}

impl Latchkey {
    /// The staging area (snapshots, fixtures, the vendor import).
    pub fn staging(&self) -> StagingService<'_> {
        StagingService {
            pool: &self.pool,
            apps: &self.directory,
            replica: self.replica.as_deref(),
            secrets: self.secret_mint(),
            hasher: &self.hasher,
        }
    }
}

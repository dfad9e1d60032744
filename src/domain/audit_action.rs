//! The actions an audit event records: the one list of their names.
//!
//! Each variant's wire name (what the chain hashes, exports and the API show, what the
//! `action` filter takes) is written once, below. The names are frozen: events already in a
//! chain keep theirs forever (`tests/fixtures/audit_chain_v1.ndjson` proves old chains still
//! verify). To add an action, add a line (see CONTRIBUTING.md, "Adding an audit action").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! audit_actions {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// What an audit event records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum AuditAction {
            $($(#[doc = $doc])* #[serde(rename = $name)] $variant,)*
        }

        impl AuditAction {
            /// Every action, in the order of this list.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The wire name, e.g. `client.update`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }
        }
    };
}

audit_actions! {
    /// An application and its chain were created (the first event of every chain).
    AppCreate = "app.create",
    /// An application's options changed (signed requests, show_secrets).
    AppUpdate = "app.update",
    /// An application was put back to a saved snapshot (its changes follow as their own events).
    AppRestore = "app.restore",
    /// One pass of `latchkey import` from a vendor (its counts; its changes follow as their own
    /// events).
    AppImport = "app.import",
    ClientCreate = "client.create",
    ClientUpdate = "client.update",
    ClientDelete = "client.delete",
    /// A new secret (rotation, or a secret pinned by a fixture).
    ClientSecretRotate = "client.secret_rotate",
    /// A snapshot restore put back the secrets saved with it.
    ClientSecretRestore = "client.secret_restore",
    /// A sealed secret was shown to its application's owner (`show_secrets`).
    ClientSecretRead = "client.secret_read",
    SettingsSet = "settings.set",
    SettingsDelete = "settings.delete",
    SettingsReplace = "settings.replace",
    EntityTypeCreate = "entity_type.create",
    EntityTypeUpdate = "entity_type.update",
    EntityTypeDelete = "entity_type.delete",
    EntityTypeAttributeAdd = "entity_type.attribute_add",
    EntityTypeAttributeRemove = "entity_type.attribute_remove",
    AccessSchemaSet = "access_schema.set",
    AccessSchemaDelete = "access_schema.delete",
    SnapshotSave = "snapshot.save",
    SnapshotDelete = "snapshot.delete",
    AuditRetentionSet = "audit.retention_set",
    /// The checkpoint `latchkey audit prune` appends before it removes the expired prefix.
    AuditPrune = "audit.prune",
    /// A legal hold was set or changed (`latchkey audit hold`).
    AuditHoldSet = "audit.hold_set",
    /// The checkpoint signing key was rotated (written to every application's log).
    AuditKeyRotate = "audit.key_rotate",
    /// Sinks (docs/streaming.md), written in each application the sink covers.
    SinkCreate = "sink.create",
    SinkPause = "sink.pause",
    SinkResume = "sink.resume",
    SinkRewind = "sink.rewind",
    SinkSecretRotate = "sink.secret_rotate",
    SinkDelete = "sink.delete",
    /// An owner registered public keys of a client for OAuth private_key_jwt.
    ClientJwksSet = "client.jwks_set",
    ClientJwksDelete = "client.jwks_delete",
    /// An application's first OAuth signing key (made on first use; actor `latchkey`).
    OAuthKeyCreate = "oauth.key_create",
    OAuthKeyRotate = "oauth.key_rotate",
    OAuthSettingsUpdate = "oauth.settings_update",
    /// An OAuth access token revoked (RFC 7009).
    OAuthTokenRevoke = "oauth.token_revoke",
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuditAction {
    /// Whether an event of this action that names a client changed nothing a snapshot entry
    /// holds except that client's own (its row, secrets and access schemas; `crate::cache`):
    /// then the other clients' entries of the application stay usable. Every other action
    /// (application options, entity types, restores, the audit log's own events, …) makes every
    /// entry of the application stale, as does an event of these that names no client. A new
    /// action reaches the whole application unless it is added here, with a reason.
    pub const fn reaches_only_its_client(self) -> bool {
        matches!(
            self,
            // The client's row, secrets and access schemas: what its entry holds.
            AuditAction::ClientCreate
                | AuditAction::ClientUpdate
                | AuditAction::ClientDelete
                | AuditAction::ClientSecretRotate
                | AuditAction::ClientSecretRestore
                | AuditAction::AccessSchemaSet
                | AuditAction::AccessSchemaDelete
                // Rows no snapshot entry holds, kept per client.
                | AuditAction::ClientSecretRead
                | AuditAction::ClientJwksSet
                | AuditAction::ClientJwksDelete
                | AuditAction::OAuthTokenRevoke
                | AuditAction::SettingsSet
                | AuditAction::SettingsDelete
                | AuditAction::SettingsReplace
        )
    }
}

/// A name that is no action of this release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for AuditAction {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(*a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
            assert_eq!(
                serde_json::from_value::<AuditAction>(a.as_str().into()).unwrap(),
                *a
            );
        }
        assert_eq!(
            "client.updated".parse::<AuditAction>(),
            Err(UnknownAction("client.updated".into()))
        );
        let mut names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len(), "a name is used twice");
    }
}

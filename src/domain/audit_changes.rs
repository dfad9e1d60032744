//! What an audit event says changed (`changes`): one typed payload per kind of change, built
//! here and only here. The serialised form is part of the hash chain, so it is frozen: a field
//! keeps its name, its presence rule (absent vs `null`) and its type forever
//! (`tests/fixtures/audit_chain_v1.ndjson` holds one of each, written before these types).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::audit::format_time;

/// `{"from": …, "to": …}`: both members always present (`null` where there was none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FromTo<T> {
    pub from: T,
    pub to: T,
}

impl<T: PartialEq> FromTo<T> {
    /// `Some` when the two differ.
    pub fn changed(from: T, to: T) -> Option<Self> {
        (from != to).then_some(Self { from, to })
    }
}

/// A payload as the event stores it.
pub trait Payload: Serialize {
    fn into_changes(self) -> Value
    where
        Self: Sized,
    {
        // These types serialise to an object whatever their values (string keys only).
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// Nothing more to say than the action and target (`client.secret_read`).
#[derive(Debug, Serialize)]
pub struct Nothing {}
impl Payload for Nothing {}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `app.create`: the options appear only when switched on.
#[derive(Debug, Serialize)]
pub struct AppCreated<'a> {
    pub name: &'a str,
    pub region: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    pub signed_requests: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub show_secrets: bool,
}
impl Payload for AppCreated<'_> {}

/// `app.update`: the options that changed; `sealedSecretsDropped` when both are now off.
#[derive(Debug, Default, Serialize)]
pub struct AppOptionsChanged {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_requests: Option<FromTo<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_secrets: Option<FromTo<bool>>,
    #[serde(
        rename = "sealedSecretsDropped",
        skip_serializing_if = "Option::is_none"
    )]
    pub sealed_secrets_dropped: Option<u64>,
}
impl Payload for AppOptionsChanged {}

impl AppOptionsChanged {
    /// `(signed_requests, show_secrets)` before and after; `None` when neither changed.
    pub fn of(before: (bool, bool), after: (bool, bool)) -> Option<Self> {
        let c = Self {
            signed_requests: FromTo::changed(before.0, after.0),
            show_secrets: FromTo::changed(before.1, after.1),
            sealed_secrets_dropped: None,
        };
        (c.signed_requests.is_some() || c.show_secrets.is_some()).then_some(c)
    }
}

/// `app.restore`: the snapshot and how many changes follow as their own events.
#[derive(Debug, Serialize)]
pub struct Restored<'a> {
    pub snapshot: &'a str,
    pub changes: usize,
}
impl Payload for Restored<'_> {}

/// `app.import`: where from, what was read, and how many changes follow.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported<'a> {
    pub source: &'a str,
    pub changes: usize,
    pub clients: usize,
    pub entity_types: usize,
    pub access_schemas: usize,
    pub metadata_clients: &'a [String],
    pub new_secrets: Vec<&'a String>,
    pub prune: bool,
}
impl Payload for Imported<'_> {}

/// `snapshot.save`.
#[derive(Debug, Serialize)]
pub struct SnapshotSaved<'a> {
    pub snapshot: &'a str,
    pub replaced: bool,
    pub clients: i64,
}
impl Payload for SnapshotSaved<'_> {}

/// `snapshot.delete`.
#[derive(Debug, Serialize)]
pub struct SnapshotDeleted<'a> {
    pub snapshot: &'a str,
}
impl Payload for SnapshotDeleted<'_> {}

/// A client's name and allow list, as `client.*` events compare them.
#[derive(Debug, Clone, Copy)]
pub struct ClientFields<'a> {
    pub name: &'a str,
    pub ip_whitelist: &'a [String],
}

/// `client.create`, `client.update`, `client.delete`: each field that differs (`null` on the
/// side where the client did not exist).
#[derive(Debug, Serialize)]
pub struct ClientChanged<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<FromTo<Option<&'a str>>>,
    #[serde(rename = "ipWhitelist", skip_serializing_if = "Option::is_none")]
    pub ip_whitelist: Option<FromTo<Option<&'a [String]>>>,
}
impl Payload for ClientChanged<'_> {}

impl<'a> ClientChanged<'a> {
    pub fn of(before: Option<ClientFields<'a>>, after: Option<ClientFields<'a>>) -> Self {
        Self {
            name: FromTo::changed(before.map(|c| c.name), after.map(|c| c.name)),
            ip_whitelist: FromTo::changed(
                before.map(|c| c.ip_whitelist),
                after.map(|c| c.ip_whitelist),
            ),
        }
    }
}

/// `client.secret_rotate` and `client.secret_restore`: `{"secret": {…}}`.
#[derive(Debug, Serialize)]
pub struct SecretChanged {
    pub secret: SecretChange,
}
impl Payload for SecretChanged {}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SecretChange {
    /// A new secret; the old ones keep working this many hours. `pinned`: a fixture set it.
    Rotated {
        rotated: bool,
        #[serde(rename = "oldSecretHoursToLive")]
        old_secret_hours_to_live: i64,
        #[serde(skip_serializing_if = "is_false")]
        pinned: bool,
    },
    /// A snapshot restore put back the secrets saved with it.
    Restored { restored: bool },
}

impl SecretChanged {
    pub fn rotated(old_secret_hours_to_live: i64, pinned: bool) -> Self {
        Self {
            secret: SecretChange::Rotated {
                rotated: true,
                old_secret_hours_to_live,
                pinned,
            },
        }
    }

    pub fn restored() -> Self {
        Self {
            secret: SecretChange::Restored { restored: true },
        }
    }
}

/// One setting's change: `from` absent where it was not set, `to` absent where it is removed.
#[derive(Debug, Serialize)]
pub struct SettingChange<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<&'a Value>,
}

/// `settings.set`, `settings.delete`, `settings.replace`: key → its change.
#[derive(Debug, Default, Serialize)]
pub struct SettingsChanged<'a>(pub std::collections::BTreeMap<&'a str, SettingChange<'a>>);
impl Payload for SettingsChanged<'_> {}

impl<'a> SettingsChanged<'a> {
    pub fn add(&mut self, key: &'a str, from: Option<&'a Value>, to: Option<&'a Value>) {
        self.0.insert(key, SettingChange { from, to });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every key whose value differs between `before` and `after`.
    pub fn between(before: &'a Map<String, Value>, after: &'a Map<String, Value>) -> Self {
        let mut c = Self::default();
        for (k, v) in before {
            if !after.contains_key(k) {
                c.add(k, Some(v), None);
            }
        }
        for (k, v) in after {
            if before.get(k) != Some(v) {
                c.add(k, before.get(k), Some(v));
            }
        }
        c
    }
}

/// The attribute an `entity_type.attribute_add`/`_remove` was about.
#[derive(Debug, Serialize)]
pub struct AttributeDetail<'a> {
    pub attribute: &'a str,
    pub attr_def: &'a Value,
}

/// `entity_type.*`: the type's `attr_defs` before and after (`null` where it did not exist).
#[derive(Debug, Serialize)]
pub struct EntityTypeChanged<'a> {
    #[serde(rename = "entityType")]
    pub entity_type: &'a str,
    pub attr_defs: FromTo<Option<&'a Value>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub detail: Option<AttributeDetail<'a>>,
}
impl Payload for EntityTypeChanged<'_> {}

impl<'a> EntityTypeChanged<'a> {
    pub fn of(entity_type: &'a str, from: Option<&'a Value>, to: Option<&'a Value>) -> Self {
        Self {
            entity_type,
            attr_defs: FromTo { from, to },
            detail: None,
        }
    }
}

/// `access_schema.set`, `access_schema.delete`: the attribute list before and after.
#[derive(Debug, Serialize)]
pub struct AccessSchemaChanged<'a> {
    #[serde(rename = "entityType")]
    pub entity_type: &'a str,
    #[serde(rename = "accessType")]
    pub access_type: &'a str,
    pub attributes: FromTo<Option<&'a [String]>>,
}
impl Payload for AccessSchemaChanged<'_> {}

/// `audit.retention_set`.
#[derive(Debug, Serialize)]
pub struct RetentionChanged {
    #[serde(rename = "keepDays")]
    pub keep_days: FromTo<Option<i32>>,
}
impl Payload for RetentionChanged {}

/// `audit.prune`: the checkpoint; verifiers read it back ([`Pruned::of_changes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    pub pruned_from_seq: i64,
    pub pruned_through_seq: i64,
    /// Lowercase hex of the last pruned event's hash.
    pub pruned_through_hash: String,
    pub pruned_events: i64,
    /// RFC 3339, microseconds.
    pub cutoff: String,
    pub keep_days: i32,
    /// Sinks that had not delivered the pruned events (`latchkey audit prune --force`;
    /// absent otherwise, so checkpoints written before sinks read back the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forced_past_sinks: Vec<String>,
}
impl Payload for &Pruned {}

/// `sink.create`, `sink.pause`, `sink.resume`, `sink.rewind`, `sink.secret_rotate`,
/// `sink.delete` (docs/streaming.md): the sink's name, and what the action adds. Never a
/// secret.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkChanged<'a> {
    pub sink: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    /// `sink.create`: the URL or `host:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// `sink.create`: the action filter (`null`: every action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Option<&'a [String]>>,
    /// `sink.create`: whether it delivers the whole log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_beginning: Option<bool>,
    /// `sink.resume`: why it was paused (`null`: by the operator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<Option<&'a str>>,
    /// `sink.secret_rotate`.
    #[serde(skip_serializing_if = "is_false")]
    pub secret_rotated: bool,
    /// `sink.rewind`: the revision delivery resumes from, and what was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_time: Option<String>,
}
impl Payload for SinkChanged<'_> {}

impl Pruned {
    pub fn new(
        from_seq: i64,
        through_seq: i64,
        through_hash: &[u8],
        events: i64,
        cutoff: &chrono::DateTime<chrono::Utc>,
        keep_days: i32,
    ) -> Self {
        Self {
            pruned_from_seq: from_seq,
            pruned_through_seq: through_seq,
            pruned_through_hash: hex::encode(through_hash),
            pruned_events: events,
            cutoff: format_time(cutoff),
            keep_days,
            forced_past_sinks: Vec::new(),
        }
    }
}

/// `audit.hold_set`: the legal hold's end (RFC 3339), before and after.
#[derive(Debug, Serialize)]
pub struct HoldChanged {
    pub until: FromTo<Option<String>>,
}
impl Payload for HoldChanged {}

/// `audit.key_rotate`: the retired and the new checkpoint key, and the new verifier key.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotated<'a> {
    pub from_key_id: Option<&'a str>,
    pub to_key_id: &'a str,
    pub verifier_key: &'a str,
}
impl Payload for &KeyRotated<'_> {}

/// What a stored `client.*` payload says ([`ClientChanged`] read back): each field that
/// changed, with its value after the event (`to`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ClientChangedRecord {
    #[serde(default)]
    pub name: Option<FromTo<Option<String>>>,
    #[serde(rename = "ipWhitelist", default)]
    pub ip_whitelist: Option<FromTo<Option<Vec<String>>>>,
}

/// A stored `access_schema.*` payload ([`AccessSchemaChanged`] read back).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AccessSchemaChangedRecord {
    #[serde(rename = "entityType")]
    pub entity_type: String,
    #[serde(rename = "accessType")]
    pub access_type: String,
    pub attributes: FromTo<Option<Vec<String>>>,
}

/// A stored `client.secret_rotate`/`client.secret_restore` payload ([`SecretChanged`] read
/// back): either form, every member optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SecretChangedRecord {
    #[serde(default)]
    pub secret: SecretChangeRecord,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretChangeRecord {
    #[serde(default)]
    pub old_secret_hours_to_live: Option<i64>,
    #[serde(default)]
    pub restored: bool,
    #[serde(default)]
    pub pinned: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_keep_their_stored_shapes() {
        assert_eq!(Nothing {}.into_changes(), json!({}));
        assert_eq!(
            AppCreated {
                name: "n",
                region: "us",
                signed_requests: false,
                show_secrets: true
            }
            .into_changes(),
            json!({"name": "n", "region": "us", "show_secrets": true})
        );
        let ips = vec!["0.0.0.0/0".to_owned()];
        let c = ClientFields {
            name: "a",
            ip_whitelist: &ips,
        };
        assert_eq!(
            ClientChanged::of(None, Some(c)).into_changes(),
            json!({"name": {"from": null, "to": "a"}, "ipWhitelist": {"from": null, "to": ["0.0.0.0/0"]}})
        );
        assert_eq!(
            ClientChanged::of(Some(c), Some(c)).into_changes(),
            json!({})
        );
        assert_eq!(
            SecretChanged::rotated(0, true).into_changes(),
            json!({"secret": {"rotated": true, "oldSecretHoursToLive": 0, "pinned": true}})
        );
        assert_eq!(
            SecretChanged::rotated(12, false).into_changes(),
            json!({"secret": {"rotated": true, "oldSecretHoursToLive": 12}})
        );
        assert_eq!(
            SecretChanged::restored().into_changes(),
            json!({"secret": {"restored": true}})
        );
        let (one, two) = (json!(1), json!(2));
        let mut s = SettingsChanged::default();
        s.add("a", None, Some(&one));
        s.add("b", Some(&one), None);
        s.add("c", Some(&one), Some(&two));
        assert_eq!(
            s.into_changes(),
            json!({"a": {"to": 1}, "b": {"from": 1}, "c": {"from": 1, "to": 2}})
        );
        let defs = json!([{"name": "x", "type": "string"}]);
        let mut e = EntityTypeChanged::of("user", Some(&defs), None);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"entityType": "user", "attr_defs": {"from": defs, "to": null}})
        );
        e.detail = Some(AttributeDetail {
            attribute: "x",
            attr_def: &defs[0],
        });
        assert_eq!(
            e.into_changes(),
            json!({"entityType": "user", "attr_defs": {"from": defs, "to": null},
                   "attribute": "x", "attr_def": defs[0]})
        );
        assert_eq!(
            AppOptionsChanged::of((false, false), (true, false))
                .unwrap()
                .into_changes(),
            json!({"signed_requests": {"from": false, "to": true}})
        );
        assert!(AppOptionsChanged::of((true, false), (true, false)).is_none());
    }

    #[test]
    fn payloads_read_back() {
        let ips = vec!["10.0.0.0/8".to_owned()];
        let c = ClientFields {
            name: "a",
            ip_whitelist: &ips,
        };
        let back: ClientChangedRecord =
            serde_json::from_value(ClientChanged::of(None, Some(c)).into_changes()).unwrap();
        assert_eq!(back.name.unwrap().to.as_deref(), Some("a"));
        assert_eq!(back.ip_whitelist.unwrap().to, Some(ips.clone()));
        let back: ClientChangedRecord = serde_json::from_value(json!({})).unwrap();
        assert_eq!(back, ClientChangedRecord::default());
        let attrs = vec!["id".to_owned()];
        let schema = AccessSchemaChanged {
            entity_type: "user",
            access_type: "read",
            attributes: FromTo {
                from: Some(attrs.as_slice()),
                to: None,
            },
        };
        let back: AccessSchemaChangedRecord =
            serde_json::from_value(schema.into_changes()).unwrap();
        assert_eq!(back.attributes.from, Some(attrs));
        assert_eq!(back.attributes.to, None);
        let back: SecretChangedRecord =
            serde_json::from_value(SecretChanged::rotated(12, false).into_changes()).unwrap();
        assert_eq!(back.secret.old_secret_hours_to_live, Some(12));
        let back: SecretChangedRecord =
            serde_json::from_value(SecretChanged::restored().into_changes()).unwrap();
        assert!(back.secret.restored);
    }
}

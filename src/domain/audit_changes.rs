//! What an audit event says changed (`changes`): one typed payload per kind of change, built
//! here and only here. The serialised form is part of the hash chain, so it is frozen: a field
//! keeps its name, its presence rule (absent vs `null`) and its type forever
//! (`tests/fixtures/audit_chain_v1.ndjson` holds one of each, written before these types).

use chrono::{DateTime, Utc};
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

/// `oauth.key_create` and `oauth.key_rotate` (docs/oauth.md): the new signing key, and for a
/// rotation when it signs from and the keys on their way out. The key made on first use says
/// only `kid` and `alg`. Times are RFC 3339 as chrono writes them (`+00:00`), as stored since
/// the first OAuth events.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthKeyMade<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signs_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring: Option<Vec<RetiringKey<'a>>>,
}
impl Payload for OAuthKeyMade<'_> {}

/// A signing key a rotation retires, and when it leaves the key set.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiringKey<'a> {
    pub kid: &'a str,
    pub retires_at: String,
}

impl<'a> OAuthKeyMade<'a> {
    /// The application's first key, made on the way of its first token or key-set read.
    pub fn on_first_use(kid: &'a str, alg: &'a str) -> Self {
        Self {
            kid,
            alg,
            signs_from: None,
            retiring: None,
        }
    }

    /// A key made by a rotation: it signs from `signs_from`; each of `retiring` leaves the key
    /// set at `retires_at`.
    pub fn by_rotation(
        kid: &'a str,
        alg: &'a str,
        signs_from: &DateTime<Utc>,
        retiring: impl IntoIterator<Item = &'a str>,
        retires_at: &DateTime<Utc>,
    ) -> Self {
        Self {
            kid,
            alg,
            signs_from: Some(signs_from.to_rfc3339()),
            retiring: Some(
                retiring
                    .into_iter()
                    .map(|kid| RetiringKey {
                        kid,
                        retires_at: retires_at.to_rfc3339(),
                    })
                    .collect(),
            ),
        }
    }
}

/// `oauth.settings_update`: the settings that changed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthSettingsChanged<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<FromTo<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<FromTo<i64>>,
}
impl Payload for OAuthSettingsChanged<'_> {}

impl<'a> OAuthSettingsChanged<'a> {
    /// `(signing algorithm, token lifetime)` before and after; `None` when neither changed.
    pub fn of(before: (&'a str, i64), after: (&'a str, i64)) -> Option<Self> {
        let c = Self {
            signing_alg: FromTo::changed(before.0, after.0),
            token_lifetime_secs: FromTo::changed(before.1, after.1),
        };
        (c.signing_alg.is_some() || c.token_lifetime_secs.is_some()).then_some(c)
    }
}

/// `oauth.token_revoke`: which token (its `jti`) and until when it stays revoked.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRevoked<'a> {
    pub jti: &'a str,
    pub expires_at: String,
}
impl Payload for TokenRevoked<'_> {}

impl<'a> TokenRevoked<'a> {
    pub fn new(jti: &'a str, expires_at: &DateTime<Utc>) -> Self {
        Self {
            jti,
            expires_at: expires_at.to_rfc3339(),
        }
    }
}

/// `client.jwks_set` and `client.jwks_delete`: the key ids of the client's registered key set
/// before and after (`null` where it had none). The keys are public but long: ids only.
#[derive(Debug, Serialize)]
pub struct ClientKeysChanged {
    pub kids: FromTo<Option<Vec<Value>>>,
}
impl Payload for ClientKeysChanged {}

impl ClientKeysChanged {
    pub fn set(before: Option<&Value>, after: &Value) -> Self {
        Self {
            kids: FromTo {
                from: before.map(kids),
                to: Some(kids(after)),
            },
        }
    }

    pub fn deleted(before: &Value) -> Self {
        Self {
            kids: FromTo {
                from: Some(kids(before)),
                to: None,
            },
        }
    }
}

/// The `kid` of each key of a JWK set (`null` for a key without one).
fn kids(jwks: &Value) -> Vec<Value> {
    jwks["keys"]
        .as_array()
        .map(|keys| keys.iter().map(|k| k["kid"].clone()).collect())
        .unwrap_or_default()
}

impl<'a> SinkChanged<'a> {
    /// `sink.create`.
    pub fn created(
        sink: &'a str,
        kind: &'a str,
        destination: String,
        actions: Option<&'a [String]>,
        from_beginning: bool,
    ) -> Self {
        Self {
            sink,
            kind: Some(kind),
            destination: Some(destination),
            actions: Some(actions),
            from_beginning: Some(from_beginning),
            ..Default::default()
        }
    }

    /// `sink.pause` (`paused_reason` is `None`) and `sink.resume` (why it had been paused;
    /// `None` inside: by the operator).
    pub fn paused_or_resumed(sink: &'a str, resumed_from: Option<Option<&'a str>>) -> Self {
        Self {
            sink,
            paused_reason: resumed_from,
            ..Default::default()
        }
    }

    /// `sink.secret_rotate`.
    pub fn secret_rotated(sink: &'a str) -> Self {
        Self {
            sink,
            secret_rotated: true,
            ..Default::default()
        }
    }

    /// `sink.rewind`: delivery resumes from `from_seq`, as asked by `to`.
    pub fn rewound(sink: &'a str, from_seq: i64, to: &super::sink::RewindTo) -> Self {
        use super::sink::RewindTo;
        Self {
            sink,
            from_seq: Some(from_seq),
            to_revision: match to {
                RewindTo::Revision(r) => Some(*r),
                RewindTo::Time(_) => None,
            },
            to_time: match to {
                RewindTo::Time(t) => Some(format_time(t)),
                RewindTo::Revision(_) => None,
            },
            ..Default::default()
        }
    }

    /// `sink.delete`.
    pub fn deleted(sink: &'a str, kind: &'a str) -> Self {
        Self {
            sink,
            kind: Some(kind),
            ..Default::default()
        }
    }
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

    #[test]
    fn oauth_and_sink_payloads_keep_their_stored_shapes() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let later = DateTime::from_timestamp(1_700_000_900, 0).unwrap();
        assert_eq!(
            OAuthKeyMade::on_first_use("k1", "ES256").into_changes(),
            json!({"kid": "k1", "alg": "ES256"})
        );
        assert_eq!(
            OAuthKeyMade::by_rotation("k2", "EdDSA", &t, ["k1"], &later).into_changes(),
            json!({"kid": "k2", "alg": "EdDSA", "signsFrom": "2023-11-14T22:13:20+00:00",
                   "retiring": [{"kid": "k1", "retiresAt": "2023-11-14T22:28:20+00:00"}]})
        );
        assert_eq!(
            OAuthKeyMade::by_rotation("k1", "ES256", &t, [], &later).into_changes(),
            json!({"kid": "k1", "alg": "ES256", "signsFrom": "2023-11-14T22:13:20+00:00", "retiring": []})
        );
        assert_eq!(
            OAuthSettingsChanged::of(("ES256", 600), ("EdDSA", 600))
                .unwrap()
                .into_changes(),
            json!({"signingAlg": {"from": "ES256", "to": "EdDSA"}})
        );
        assert_eq!(
            OAuthSettingsChanged::of(("ES256", 600), ("ES256", 60))
                .unwrap()
                .into_changes(),
            json!({"tokenLifetimeSecs": {"from": 600, "to": 60}})
        );
        assert!(OAuthSettingsChanged::of(("ES256", 600), ("ES256", 600)).is_none());
        assert_eq!(
            TokenRevoked::new("j", &t).into_changes(),
            json!({"jti": "j", "expiresAt": "2023-11-14T22:13:20+00:00"})
        );
        let one = json!({"keys": [{"kid": "a"}, {"kty": "OKP"}]});
        assert_eq!(
            ClientKeysChanged::set(None, &one).into_changes(),
            json!({"kids": {"from": null, "to": ["a", null]}})
        );
        assert_eq!(
            ClientKeysChanged::set(Some(&one), &json!({"keys": [{"kid": "b"}]})).into_changes(),
            json!({"kids": {"from": ["a", null], "to": ["b"]}})
        );
        assert_eq!(
            ClientKeysChanged::deleted(&one).into_changes(),
            json!({"kids": {"from": ["a", null], "to": null}})
        );
        let actions = vec!["client.create".to_owned()];
        assert_eq!(
            SinkChanged::created("s", "webhook", "https://x/".into(), Some(&actions), true)
                .into_changes(),
            json!({"sink": "s", "kind": "webhook", "destination": "https://x/",
                   "actions": ["client.create"], "fromBeginning": true})
        );
        assert_eq!(
            SinkChanged::created("s", "syslog", "h:1".into(), None, false).into_changes(),
            json!({"sink": "s", "kind": "syslog", "destination": "h:1", "actions": null,
                   "fromBeginning": false})
        );
        assert_eq!(
            SinkChanged::paused_or_resumed("s", None).into_changes(),
            json!({"sink": "s"})
        );
        assert_eq!(
            SinkChanged::paused_or_resumed("s", Some(None)).into_changes(),
            json!({"sink": "s", "pausedReason": null})
        );
        assert_eq!(
            SinkChanged::secret_rotated("s").into_changes(),
            json!({"sink": "s", "secretRotated": true})
        );
        assert_eq!(
            SinkChanged::rewound("s", 3, &crate::domain::sink::RewindTo::Revision(2))
                .into_changes(),
            json!({"sink": "s", "fromSeq": 3, "toRevision": 2})
        );
        assert_eq!(
            SinkChanged::rewound("s", 1, &crate::domain::sink::RewindTo::Time(t)).into_changes(),
            json!({"sink": "s", "fromSeq": 1, "toTime": "2023-11-14T22:13:20.000000Z"})
        );
        assert_eq!(
            SinkChanged::deleted("s", "splunk_hec").into_changes(),
            json!({"sink": "s", "kind": "splunk_hec"})
        );
    }
}

//! Fixture documents (`latchkey apply`, `export`, `import`): an application's clients, settings,
//! entity types and access schemas as one JSON or YAML document.
//!
//! Parsing checks every value with the same rules as the APIs (names, features, allow lists,
//! setting keys and values, entity type definitions) and names the path of the first bad value:
//! `clients[2].features[0]: Not a valid feature name.` What needs the database (schemas against
//! their entity type, ids used elsewhere) is checked by the service, with the same paths.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::access::AccessType;
use super::allow_list::parse_cidr;
use super::entity_type::{parse_attr_defs, AttrDef, TypeName};
use super::ids::{is_token, CLIENT_ID_LEN, SECRET_LEN};
use super::settings::{check_value, SettingKey};
use super::{AllowList, ClientName, Feature, FeatureSet, Field, ValidationError};

/// A bad value in a fixture document, at `path`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FixtureError {
    pub path: String,
    pub message: String,
}

impl FixtureError {
    pub fn new(path: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// The text formats a document is read from and written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Format::Json),
            "yaml" | "yml" => Ok(Format::Yaml),
            other => Err(format!("unknown format {other:?} (json or yaml)")),
        }
    }
}

/// Reads a document: JSON when it starts with `{` (after blanks), otherwise YAML (of which JSON
/// is a subset anyway; the JSON parser gives the clearer messages).
pub fn parse_text(text: &str) -> Result<Value, FixtureError> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| FixtureError::new("(document)", e))
    } else {
        serde_saphyr::from_str::<Value>(text).map_err(|e| FixtureError::new("(document)", e))
    }
}

/// Writes a document in `format`.
pub fn to_text(doc: &impl serde::Serialize, format: Format) -> Result<String, FixtureError> {
    match format {
        Format::Json => serde_json::to_string_pretty(doc)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| FixtureError::new("(document)", e)),
        Format::Yaml => {
            serde_saphyr::to_string(doc).map_err(|e| FixtureError::new("(document)", e))
        }
    }
}

/// A checked document. Sections left out are `None` (kept as they are, unless pruning).
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    pub settings: Option<Map<String, Value>>,
    pub entity_types: Option<Vec<FixtureType>>,
    pub clients: Vec<FixtureClient>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FixtureType {
    pub name: String,
    pub attr_defs: Vec<AttrDef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FixtureClient {
    /// `clients[i]`, for messages about this client found later.
    pub path: String,
    pub id: Option<String>,
    pub secret: Option<String>,
    pub name: ClientName,
    pub features: FeatureSet,
    pub allow_list: AllowList,
    pub settings: Option<Map<String, Value>>,
    pub access_schemas: Option<Vec<FixtureSchema>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FixtureSchema {
    /// `clients[i].accessSchemas[j]`.
    pub path: String,
    pub entity_type: String,
    pub access_type: AccessType,
    pub attributes: Vec<String>,
}

const TOP_FIELDS: [&str; 3] = ["settings", "entityTypes", "clients"];
/// `_self` and `_settings` are links the Config API shows; a client read from it may be pasted.
const CLIENT_FIELDS: [&str; 9] = [
    "_id",
    "_secret",
    "_self",
    "_settings",
    "name",
    "features",
    "ipWhitelist",
    "settings",
    "accessSchemas",
];
const TYPE_FIELDS: [&str; 2] = ["name", "attr_defs"];
const SCHEMA_FIELDS: [&str; 3] = ["entityType", "accessType", "attributes"];

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, FixtureError> {
    v.as_object()
        .ok_or_else(|| FixtureError::new(path, "Not a valid object."))
}

fn list<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, FixtureError> {
    v.as_array().ok_or_else(|| {
        FixtureError::new(
            path,
            ValidationError::NotAList {
                field: Field::Wire(""),
            },
        )
    })
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, FixtureError> {
    v.as_str().ok_or_else(|| {
        FixtureError::new(
            path,
            ValidationError::NotAString {
                field: Field::Wire(""),
            },
        )
    })
}

/// A list of strings, each accepted by `check` (a refusal names the item: `path[j]`).
fn checked_strings<'a, T, E: std::fmt::Display>(
    v: &'a Value,
    path: &str,
    check: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<&'a str>, FixtureError> {
    let mut items = Vec::new();
    for (j, item) in list(v, path)?.iter().enumerate() {
        let item_at = format!("{path}[{j}]");
        let s = string(item, &item_at)?;
        check(s).map_err(|e| FixtureError::new(&item_at, e))?;
        items.push(s);
    }
    Ok(items)
}

fn known_fields(map: &Map<String, Value>, path: &str, known: &[&str]) -> Result<(), FixtureError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(FixtureError::new(
            join(path, k),
            format!("Unknown field (expected one of: {}).", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn required<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    field: &str,
) -> Result<&'a Value, FixtureError> {
    match map.get(field) {
        None | Some(Value::Null) => Err(FixtureError::new(
            join(path, field),
            ValidationError::MissingField {
                field: Field::Wire(""),
            },
        )),
        Some(v) => Ok(v),
    }
}

fn present<'a>(map: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    map.get(field).filter(|v| !v.is_null())
}

/// A settings object, every key and value checked as the settings calls check them.
pub fn parse_settings(v: &Value, path: &str) -> Result<Map<String, Value>, FixtureError> {
    let map = object(v, path)?;
    for (k, value) in map {
        let at = join(path, k);
        let key = SettingKey::parse(k).map_err(|e| FixtureError::new(&at, e))?;
        check_value(&key, value).map_err(|e| FixtureError::new(&at, e))?;
    }
    Ok(map.clone())
}

fn token(
    map: &Map<String, Value>,
    path: &str,
    field: &str,
    len: usize,
    what: &str,
) -> Result<Option<String>, FixtureError> {
    let Some(v) = present(map, field) else {
        return Ok(None);
    };
    let at = join(path, field);
    let s = string(v, &at)?;
    if !is_token(s, len) {
        return Err(FixtureError::new(
            at,
            format!("Not a valid {what} ({len} characters of a-z and 0-9)."),
        ));
    }
    Ok(Some(s.to_owned()))
}

fn parse_client(v: &Value, path: &str) -> Result<FixtureClient, FixtureError> {
    let map = object(v, path)?;
    known_fields(map, path, &CLIENT_FIELDS)?;
    let name_at = join(path, "name");
    let name = ClientName::parse(string(required(map, path, "name")?, &name_at)?)
        .map_err(|e| FixtureError::new(&name_at, e))?;
    let features = match present(map, "features") {
        None => FeatureSet::empty(),
        Some(v) => {
            let at = join(path, "features");
            let names = checked_strings(v, &at, str::parse::<Feature>)?;
            FeatureSet::parse(&names).map_err(|e| FixtureError::new(&at, e))?
        }
    };
    let allow_list = match present(map, "ipWhitelist") {
        None => AllowList::default(),
        Some(v) => {
            let at = join(path, "ipWhitelist");
            let entries = checked_strings(v, &at, parse_cidr)?;
            AllowList::parse(&entries).map_err(|e| FixtureError::new(&at, e))?
        }
    };
    let settings = present(map, "settings")
        .map(|v| parse_settings(v, &join(path, "settings")))
        .transpose()?;
    let access_schemas = present(map, "accessSchemas")
        .map(|v| parse_schemas(v, &join(path, "accessSchemas")))
        .transpose()?;
    Ok(FixtureClient {
        path: path.to_owned(),
        id: token(map, path, "_id", CLIENT_ID_LEN, "client id")?,
        secret: token(map, path, "_secret", SECRET_LEN, "client secret")?,
        name,
        features,
        allow_list,
        settings,
        access_schemas,
    })
}

fn parse_schemas(v: &Value, path: &str) -> Result<Vec<FixtureSchema>, FixtureError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (j, item) in list(v, path)?.iter().enumerate() {
        let at = format!("{path}[{j}]");
        let map = object(item, &at)?;
        known_fields(map, &at, &SCHEMA_FIELDS)?;
        let type_at = join(&at, "entityType");
        let entity_type = string(required(map, &at, "entityType")?, &type_at)?.to_owned();
        let access_at = join(&at, "accessType");
        let access_type: AccessType = string(required(map, &at, "accessType")?, &access_at)?
            .parse()
            .map_err(|e| FixtureError::new(&access_at, e))?;
        let attrs_at = join(&at, "attributes");
        let mut attributes = Vec::new();
        for (k, a) in list(required(map, &at, "attributes")?, &attrs_at)?
            .iter()
            .enumerate()
        {
            attributes.push(string(a, &format!("{attrs_at}[{k}]"))?.to_owned());
        }
        if !seen.insert((entity_type.clone(), access_type.as_str())) {
            return Err(FixtureError::new(
                at,
                format!(
                    "The {} schema for {entity_type} is already in the document.",
                    access_type.as_str()
                ),
            ));
        }
        out.push(FixtureSchema {
            path: at,
            entity_type,
            access_type,
            attributes,
        });
    }
    Ok(out)
}

fn parse_types(v: &Value, path: &str) -> Result<Vec<FixtureType>, FixtureError> {
    let mut out: Vec<FixtureType> = Vec::new();
    for (i, item) in list(v, path)?.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let map = object(item, &at)?;
        known_fields(map, &at, &TYPE_FIELDS)?;
        let name_at = join(&at, "name");
        let name = TypeName::parse(string(required(map, &at, "name")?, &name_at)?)
            .map_err(|e| FixtureError::new(&name_at, e))?
            .into_string();
        let attr_defs = match present(map, "attr_defs") {
            None => vec![],
            Some(defs) => {
                parse_attr_defs(defs).map_err(|e| FixtureError::new(join(&at, "attr_defs"), e))?
            }
        };
        if out.iter().any(|t| t.name == name) {
            return Err(FixtureError::new(
                name_at,
                format!("Entity type {name} is already in the document."),
            ));
        }
        out.push(FixtureType { name, attr_defs });
    }
    Ok(out)
}

/// Checks a whole document. The first bad value refuses it.
pub fn parse(doc: &Value) -> Result<Fixture, FixtureError> {
    let map = object(doc, "(document)")?;
    known_fields(map, "", &TOP_FIELDS)?;
    let settings = present(map, "settings")
        .map(|v| parse_settings(v, "settings"))
        .transpose()?;
    let entity_types = present(map, "entityTypes")
        .map(|v| parse_types(v, "entityTypes"))
        .transpose()?;
    let mut clients: Vec<FixtureClient> = Vec::new();
    if let Some(v) = present(map, "clients") {
        for (i, item) in list(v, "clients")?.iter().enumerate() {
            let client = parse_client(item, &format!("clients[{i}]"))?;
            if clients.iter().any(|c| c.name == client.name) {
                return Err(FixtureError::new(
                    join(&client.path, "name"),
                    format!(
                        "API client {} is already in the document.",
                        client.name.as_str()
                    ),
                ));
            }
            if client.id.is_some() && clients.iter().any(|c| c.id == client.id) {
                return Err(FixtureError::new(
                    join(&client.path, "_id"),
                    "This client id is already in the document.",
                ));
            }
            clients.push(client);
        }
    }
    Ok(Fixture {
        settings,
        entity_types,
        clients,
    })
}

/// Snapshot names: 1 to 64 characters of `A-Z a-z 0-9 . _ -` (they appear in URLs and shells).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Not a valid snapshot name (1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-').")]
pub struct InvalidSnapshotName;

pub fn check_snapshot_name(name: &str) -> Result<(), InvalidSnapshotName> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(()).ok_or(InvalidSnapshotName)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(doc: Value) -> String {
        parse(&doc).unwrap_err().to_string()
    }

    #[test]
    fn bad_values_are_named_by_their_path() {
        assert_eq!(
            err(
                json!({"clients": [{"name": "a"}, {"name": "b"}, {"name": "c", "features": ["owner", "bogus"]}]})
            ),
            "clients[2].features[1]: Not a valid feature name."
        );
        assert_eq!(
            err(json!({"clients": [{"name": "a", "features": ["login_client", "owner"]}]})),
            "clients[0].features: Clients with the login_client feature cannot have any other features."
        );
        assert_eq!(
            err(json!({"clients": [{"name": "a", "ipWhitelist": ["10.0.0.0/8", "10.0.0.1"]}]})),
            "clients[0].ipWhitelist[1]: Not a valid CIDR address."
        );
        assert_eq!(
            err(json!({"clients": [{"features": []}]})),
            "clients[0].name: Missing data for required field."
        );
        assert_eq!(
            err(json!({"clients": [{"name": " "}]})),
            "clients[0].name: Name not supplied"
        );
        assert_eq!(
            err(json!({"clients": [{"name": "a", "_secret": "short"}]})),
            "clients[0]._secret: Not a valid client secret (32 characters of a-z and 0-9)."
        );
        assert_eq!(
            err(json!({"clients": [{"name": "a", "_id": "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"}]})),
            "clients[0]._id: Not a valid client id (32 characters of a-z and 0-9)."
        );
        assert_eq!(
            err(json!({"settings": {"bad key": 1}})),
            "settings.bad key: Setting key \"bad key\" must not contain whitespace or control characters."
        );
        assert_eq!(
            err(json!({"clients": [{"name": "a"}, {"name": "a"}]})),
            "clients[1].name: API client a is already in the document."
        );
        assert_eq!(
            err(
                json!({"clients": [{"name": "a", "accessSchemas": [{"entityType": "user", "accessType": "both", "attributes": []}]}]})
            ),
            "clients[0].accessSchemas[0].accessType: Not a valid access type."
        );
        assert_eq!(
            err(json!({"client": []})),
            "client: Unknown field (expected one of: settings, entityTypes, clients)."
        );
        assert_eq!(err(json!([])), "(document): Not a valid object.");
        assert_eq!(err(json!({"clients": {}})), "clients: Not a valid list.");
        assert!(
            err(json!({"entityTypes": [{"name": "user", "attr_defs": [{"name": "x"}]}]}))
                .starts_with("entityTypes[0].attr_defs: Not a valid attribute definition")
        );
    }

    #[test]
    fn snapshot_names() {
        assert!(check_snapshot_name("baseline-1.v_2").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert_eq!(
                check_snapshot_name(bad),
                Err(InvalidSnapshotName),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_good_document() {
        let f = parse(&json!({
            "settings": {"a": 1},
            "entityTypes": [{"name": "user", "attr_defs": [{"name": "email", "type": "string"}]}],
            "clients": [{"name": "x", "_id": "abcdefghijklmnopqrstuvwxyz012345",
                         "features": ["owner"], "settings": {"k": [1]},
                         "accessSchemas": [{"entityType": "user", "accessType": "read", "attributes": ["email"]}]}]
        }))
        .unwrap();
        assert_eq!(f.clients[0].features, FeatureSet::of(&[Feature::Owner]));
        assert_eq!(f.clients[0].allow_list, AllowList::default());
        assert_eq!(f.entity_types.unwrap()[0].name, "user");
    }

    #[test]
    fn yaml_and_json_read_alike() {
        let yaml = "clients:\n  - name: x\n    features: [owner]\nsettings:\n  n: 5\n";
        let json = r#"{"clients": [{"name": "x", "features": ["owner"]}], "settings": {"n": 5}}"#;
        assert_eq!(parse_text(yaml).unwrap(), parse_text(json).unwrap());
        let doc = parse_text(json).unwrap();
        let back = parse_text(&to_text(&doc, Format::Yaml).unwrap()).unwrap();
        assert_eq!(back, doc);
        assert!(parse_text("clients: [").is_err());
    }
}

//! Entity types (the attribute schema of an application's records) and attribute paths.
//!
//! Latchkey stores schemas, never records. An entity type is a name plus a tree of attribute
//! definitions; `id`, `uuid`, `created` and `lastUpdated` belong to every type and are never
//! stored with the caller's attributes: they are added in front whenever the type is shown, so
//! nobody can change or remove them.
//!
//! Attribute paths name an attribute from the root of the type. Three spellings are accepted,
//! because the vendor's own documents use all three: `primaryAddress.city` (current),
//! `/primaryAddress.city` and `/primaryAddress/city` (older). The canonical, stored form is the
//! dotted one without a leading slash.

use super::wire_name::wire_names;
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The attributes every entity type has, in the order they are shown.
pub const RESERVED: [&str; 4] = ["id", "uuid", "created", "lastUpdated"];

/// Deepest nesting of `object`/`plural` attributes (a top-level attribute is depth 1).
pub const MAX_DEPTH: usize = 8;
/// Most attributes (all levels counted) in one entity type.
pub const MAX_ATTRIBUTES: usize = 1000;
/// Longest entity type or attribute name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest attribute description.
pub const MAX_DESCRIPTION_LEN: usize = 1000;
/// Longest attribute path as written (anything longer cannot name an attribute).
pub const MAX_PATH_LEN: usize = (MAX_NAME_LEN + 1) * MAX_DEPTH + 1;

/// The constraints the vendor's `attr_defs` use.
pub const CONSTRAINTS: [&str; 8] = [
    "unique",
    "locally-unique",
    "required",
    "alphabetic",
    "alphanumeric",
    "unicode-letters",
    "unicode-printable",
    "email-address",
];

/// Why an entity type, attribute definition, attribute path or access question was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("Not a valid entity type name.")]
    InvalidTypeName,
    /// `reason` names the attribute (or list position) and what is wrong with it.
    #[error("Not a valid attribute definition: {reason}")]
    InvalidAttrDef { reason: String },
    #[error("Attribute {name} is reserved.")]
    ReservedAttribute { name: String },
    /// Two attributes of one name at one level (also: adding one that exists).
    #[error("Attribute {path} already exists.")]
    DuplicateAttribute { path: String },
    /// `path` as the caller wrote it.
    #[error("Attribute does not exist: {path}")]
    UnknownAttribute { path: String },
    #[error("Not a valid access type.")]
    InvalidAccessType,
    #[error("Entity type name cannot be changed.")]
    NameChange,
    /// Access decision requests: `sourceIp` that is not an address.
    #[error("Not a valid IP address.")]
    InvalidIpAddress,
    /// Access decision requests: `record` other than `any` / `self`.
    #[error("Not a valid record scope.")]
    InvalidRecordScope,
}

fn invalid(at: &str, what: impl fmt::Display) -> SchemaError {
    SchemaError::InvalidAttrDef {
        reason: format!("{at}: {what}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Integer,
    Decimal,
    Date,
    DateTime,
    Time,
    Json,
    Password,
    Uuid,
    Id,
    Object,
    Plural,
}

wire_names! { AttrType, refused: () = |_| (); {
    String => "string",
    Boolean => "boolean",
    Integer => "integer",
    Decimal => "decimal",
    Date => "date",
    DateTime => "dateTime",
    Time => "time",
    Json => "json",
    Password => "password",
    Uuid => "uuid",
    Id => "id",
    Object => "object",
    Plural => "plural",
} }

impl AttrType {
    /// `object` and `plural` hold nested attributes; the others hold a value.
    pub fn is_container(self) -> bool {
        matches!(self, AttrType::Object | AttrType::Plural)
    }
}

/// One attribute definition. Field order is the order the vendor prints them in; optional
/// fields the caller did not give are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: AttrType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    #[serde(
        rename = "case-sensitive",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub case_sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Present exactly for `object` and `plural`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr_defs: Option<Vec<AttrDef>>,
}

impl AttrDef {
    fn reserved(name: &str, description: &str, kind: AttrType) -> Self {
        Self {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            kind,
            length: None,
            case_sensitive: None,
            constraints: vec![],
            features: vec![],
            attr_defs: None,
        }
    }

    pub fn children(&self) -> &[AttrDef] {
        self.attr_defs.as_deref().unwrap_or(&[])
    }

    /// This attribute and everything below it.
    fn count(&self) -> usize {
        1 + self.children().iter().map(AttrDef::count).sum::<usize>()
    }
}

/// The four attributes of every type, as the vendor describes them (its text, including the
/// misspelt "indentifier", is kept so answers match it byte for byte).
static RESERVED_DEFS: LazyLock<Vec<AttrDef>> = LazyLock::new(|| {
    vec![
        AttrDef::reserved("id", "simple identifier for this entity", AttrType::Id),
        AttrDef::reserved(
            "uuid",
            "globally unique indentifier for this entity",
            AttrType::Uuid,
        ),
        AttrDef::reserved(
            "created",
            "when this entity was created",
            AttrType::DateTime,
        ),
        AttrDef::reserved(
            "lastUpdated",
            "when this entity was last updated",
            AttrType::DateTime,
        ),
    ]
});

pub fn reserved_attr_defs() -> &'static [AttrDef] {
    &RESERVED_DEFS
}

pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// `[A-Za-z][A-Za-z0-9_]*`, at most [`MAX_NAME_LEN`]: the names of types and attributes.
/// Dots and slashes are path separators, so they can never be part of a name.
pub fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= MAX_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An entity type's name: [`is_valid_name`] (`[A-Za-z][A-Za-z0-9_]*`, at most
/// [`MAX_NAME_LEN`]). `parse` is the one check of that rule: creating a type refuses a name
/// without that shape (`InvalidTypeName`), and a name a caller gives to look a type up arrives
/// as a `Named<TypeName>` (path segments, `type_name`, `entityType`): a malformed one names no
/// type, so the service answers it as an unknown one, without a query. `from_trusted` (no
/// check) is for names read back from the database, where only checked names are written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TypeName(String);

impl TypeName {
    pub fn parse(s: &str) -> Result<Self, SchemaError> {
        if is_valid_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(SchemaError::InvalidTypeName)
        }
    }

    /// Without a check: a name read back from the database (or written by a test).
    pub fn from_trusted(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

super::ids::string_newtype!(TypeName);

impl super::ids::Id for TypeName {
    fn parse_id(s: &str) -> Option<Self> {
        Self::parse(s).ok()
    }

    fn id_str(&self) -> &str {
        &self.0
    }
}

/// An attribute path, e.g. `primaryAddress.city`. Display gives the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributePath(Vec<String>);

impl AttributePath {
    /// Parses `a.b`, `/a.b` or `/a/b` (one leading slash allowed; dots and slashes both
    /// separate). Something that cannot be a path cannot name an attribute, so it is refused as
    /// an unknown attribute, named as written.
    pub fn parse(raw: &str) -> Result<Self, SchemaError> {
        let unknown = || SchemaError::UnknownAttribute {
            path: raw.to_owned(),
        };
        if raw.len() > MAX_PATH_LEN {
            return Err(unknown());
        }
        let body = raw.strip_prefix('/').unwrap_or(raw);
        let segments: Vec<String> = body.split(['.', '/']).map(str::to_owned).collect();
        if segments.len() > MAX_DEPTH || !segments.iter().all(|s| is_valid_name(s)) {
            return Err(unknown());
        }
        Ok(Self(segments))
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// True when this path is `other` or one of its ancestors: naming a parent covers its
    /// children.
    pub fn covers(&self, other: &AttributePath) -> bool {
        other.0.len() >= self.0.len() && other.0[..self.0.len()] == self.0[..]
    }

    /// `id`, `uuid`, `created` or `lastUpdated` at the top level.
    pub fn is_reserved(&self) -> bool {
        self.0.len() == 1 && is_reserved(&self.0[0])
    }

    fn child(&self, name: &str) -> AttributePath {
        let mut segments = self.0.clone();
        segments.push(name.to_owned());
        Self(segments)
    }

    fn root(name: &str) -> AttributePath {
        Self(vec![name.to_owned()])
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// An entity type: its name and the attributes its owner defined (the reserved four are not
/// among them; [`EntityType::attr_defs`] puts them in front).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityType {
    pub name: String,
    attrs: Vec<AttrDef>,
}

impl EntityType {
    /// From already validated parts (the store's rows, or the output of the parsers below).
    pub fn new(name: String, attrs: Vec<AttrDef>) -> Self {
        Self { name, attrs }
    }

    /// The caller's attributes, without the reserved four: what is stored.
    pub fn user_attr_defs(&self) -> &[AttrDef] {
        &self.attrs
    }

    /// Every attribute, the reserved four first: what is shown.
    pub fn attr_defs(&self) -> Vec<AttrDef> {
        reserved_attr_defs()
            .iter()
            .chain(self.attrs.iter())
            .cloned()
            .collect()
    }

    /// The definition a path names, if any (reserved attributes included).
    pub fn resolve(&self, path: &AttributePath) -> Option<&AttrDef> {
        let (first, rest) = path.segments().split_first()?;
        let mut def = reserved_attr_defs()
            .iter()
            .chain(self.attrs.iter())
            .find(|d| &d.name == first)?;
        for segment in rest {
            def = def.children().iter().find(|d| &d.name == segment)?;
        }
        Some(def)
    }

    pub fn contains(&self, path: &AttributePath) -> bool {
        self.resolve(path).is_some()
    }

    fn total_attributes(&self) -> usize {
        self.attrs.iter().map(AttrDef::count).sum()
    }

    /// Adds a top-level attribute (`entityType.addAttribute`).
    pub fn add_attribute(&mut self, def: AttrDef) -> Result<(), SchemaError> {
        if is_reserved(&def.name) {
            return Err(SchemaError::ReservedAttribute { name: def.name });
        }
        if self.attrs.iter().any(|d| d.name == def.name) {
            return Err(SchemaError::DuplicateAttribute { path: def.name });
        }
        if self.total_attributes() + def.count() > MAX_ATTRIBUTES {
            return Err(invalid(
                &def.name,
                format!("an entity type has at most {MAX_ATTRIBUTES} attributes"),
            ));
        }
        self.attrs.push(def);
        Ok(())
    }

    /// Removes the attribute a path names, with everything below it. `raw` is the path as the
    /// caller wrote it (for the error message).
    pub fn remove_attribute(&mut self, raw: &str) -> Result<AttrDef, SchemaError> {
        let path = AttributePath::parse(raw)?;
        if path.is_reserved() {
            return Err(SchemaError::ReservedAttribute {
                name: path.to_string(),
            });
        }
        let unknown = || SchemaError::UnknownAttribute {
            path: raw.to_owned(),
        };
        let (last, parents) = path.segments().split_last().ok_or_else(unknown)?;
        let mut level = &mut self.attrs;
        for segment in parents {
            level = level
                .iter_mut()
                .find(|d| &d.name == segment)
                .and_then(|d| d.attr_defs.as_mut())
                .ok_or_else(unknown)?;
        }
        let index = level
            .iter()
            .position(|d| &d.name == last)
            .ok_or_else(unknown)?;
        Ok(level.remove(index))
    }

    /// The type as a client with access schema `schema` sees it: the attributes the schema
    /// covers, in the type's order. A listed parent brings its whole subtree; a listed child
    /// brings its parent with only the listed children.
    pub fn restricted(&self, schema: &[AttributePath]) -> Vec<AttrDef> {
        fn filter(
            defs: &[AttrDef],
            parent: Option<&AttributePath>,
            schema: &[AttributePath],
        ) -> Vec<AttrDef> {
            let mut out = Vec::new();
            for def in defs {
                let path = match parent {
                    Some(p) => p.child(&def.name),
                    None => AttributePath::root(&def.name),
                };
                if schema.iter().any(|s| s.covers(&path)) {
                    out.push(def.clone());
                } else if def.kind.is_container() && schema.iter().any(|s| path.covers(s)) {
                    let mut partial = def.clone();
                    partial.attr_defs = Some(filter(def.children(), Some(&path), schema));
                    out.push(partial);
                }
            }
            out
        }
        let all = self.attr_defs();
        filter(&all, None, schema)
    }
}

/// The leaf attribute paths of a type or of a restricted view of one (`name`, `name.given`), in
/// order: what two views are compared by, whatever optional fields each definition carries.
/// A container with no children in the view is a leaf.
pub fn leaf_paths(defs: &[AttrDef]) -> Vec<String> {
    fn walk(defs: &[AttrDef], prefix: &str, out: &mut Vec<String>) {
        for def in defs {
            let path = if prefix.is_empty() {
                def.name.clone()
            } else {
                format!("{prefix}.{}", def.name)
            };
            if def.children().is_empty() {
                out.push(path);
            } else {
                walk(def.children(), &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(defs, "", &mut out);
    out
}

/// Parses the `attr_defs` of a new or replaced entity type: a JSON list of attribute
/// definitions. A reserved attribute may appear at the top level only exactly as the type
/// shows it (so a type read with GET can be sent back with PUT); it is then dropped, because
/// it is never stored. Any other use of a reserved name is `ReservedAttribute`.
pub fn parse_attr_defs(value: &Value) -> Result<Vec<AttrDef>, SchemaError> {
    let Value::Array(items) = value else {
        return Err(SchemaError::InvalidAttrDef {
            reason: "attr_defs must be a list of attribute definitions".into(),
        });
    };
    let mut count = 0;
    let defs = parse_level(items, None, 1, &mut count)?;
    let mut out = Vec::with_capacity(defs.len());
    for def in defs {
        if is_reserved(&def.name) {
            if !reserved_attr_defs().contains(&def) {
                return Err(SchemaError::ReservedAttribute { name: def.name });
            }
        } else {
            out.push(def);
        }
    }
    Ok(out)
}

/// Parses the one definition of `entityType.addAttribute` (a reserved name is refused by
/// [`EntityType::add_attribute`]).
pub fn parse_attr_def(value: &Value) -> Result<AttrDef, SchemaError> {
    let mut count = 0;
    let mut defs = parse_level(std::slice::from_ref(value), None, 1, &mut count)?;
    Ok(defs.remove(0))
}

fn parse_level(
    items: &[Value],
    parent: Option<&str>,
    depth: usize,
    count: &mut usize,
) -> Result<Vec<AttrDef>, SchemaError> {
    let mut seen = HashSet::new();
    let mut defs = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let def = parse_one(item, parent, index, depth, count)?;
        if !seen.insert(def.name.clone()) {
            return Err(SchemaError::DuplicateAttribute {
                path: join(parent, &def.name),
            });
        }
        defs.push(def);
    }
    Ok(defs)
}

fn join(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p}.{name}"),
        None => name.to_owned(),
    }
}

const KNOWN_KEYS: [&str; 8] = [
    "name",
    "type",
    "description",
    "length",
    "case-sensitive",
    "constraints",
    "features",
    "attr_defs",
];

fn parse_one(
    item: &Value,
    parent: Option<&str>,
    index: usize,
    depth: usize,
    count: &mut usize,
) -> Result<AttrDef, SchemaError> {
    let position = match parent {
        Some(p) => format!("{p}.attr_defs[{index}]"),
        None => format!("attr_defs[{index}]"),
    };
    let Value::Object(map) = item else {
        return Err(invalid(
            &position,
            "an attribute definition must be a JSON object",
        ));
    };
    let name = attr_name(map, &position)?;
    let at = join(parent, &name);
    *count += 1;
    if *count > MAX_ATTRIBUTES {
        return Err(invalid(
            &at,
            format!("an entity type has at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    if let Some(key) = map.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(invalid(&at, format!("unknown field {key:?}")));
    }
    let kind = attr_type(map, &at)?;
    // In this order, so a definition with several faults reports the same one as ever.
    let description = description(map, &at)?;
    let length = length(map, &at, kind)?;
    let case_sensitive = match map.get("case-sensitive") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid(&at, "case-sensitive must be true or false")),
    };
    let constraints = constraints(map, &at)?;
    let features = attr_features(map, &at)?;
    let attr_defs = children(map, &at, kind, depth, count)?;
    Ok(AttrDef {
        name,
        description,
        kind,
        length,
        case_sensitive,
        constraints,
        features,
        attr_defs,
    })
}

/// `name`: required; `position` says where the definition is when it has no name yet.
fn attr_name(map: &Map<String, Value>, position: &str) -> Result<String, SchemaError> {
    match map.get("name") {
        None | Some(Value::Null) => Err(invalid(position, "name is required")),
        Some(Value::String(s)) if is_valid_name(s) => Ok(s.clone()),
        Some(_) => Err(invalid(
            position,
            format!(
                "name must be letters, digits and underscores, starting with a letter, \
                 at most {MAX_NAME_LEN} characters"
            ),
        )),
    }
}

fn attr_type(map: &Map<String, Value>, at: &str) -> Result<AttrType, SchemaError> {
    match map.get("type") {
        None | Some(Value::Null) => Err(invalid(at, "type is required")),
        Some(Value::String(s)) => s.parse::<AttrType>().map_err(|_| {
            let all: Vec<&str> = AttrType::ALL.iter().map(|t| t.as_str()).collect();
            invalid(at, format!("{s:?} is not a type ({})", all.join(", ")))
        }),
        Some(_) => Err(invalid(at, "type must be a string")),
    }
}

fn description(map: &Map<String, Value>, at: &str) -> Result<Option<String>, SchemaError> {
    match map.get("description") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.contains('\0') => {
            Err(invalid(at, "description contains a NUL character"))
        }
        Some(Value::String(s)) if s.chars().count() <= MAX_DESCRIPTION_LEN => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(invalid(
            at,
            format!("description is longer than {MAX_DESCRIPTION_LEN} characters"),
        )),
        Some(_) => Err(invalid(at, "description must be a string")),
    }
}

/// `length`: a positive integer, for `string` attributes only.
fn length(map: &Map<String, Value>, at: &str, kind: AttrType) -> Result<Option<u32>, SchemaError> {
    match map.get("length") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = v
                .as_u64()
                .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                .ok_or_else(|| invalid(at, "length must be a positive integer"))?;
            if kind != AttrType::String {
                return Err(invalid(at, "length applies to string attributes only"));
            }
            Ok(Some(n as u32))
        }
    }
}

fn constraints(map: &Map<String, Value>, at: &str) -> Result<Vec<String>, SchemaError> {
    let constraints = string_list(map, "constraints", at)?;
    if let Some(bad) = constraints
        .iter()
        .find(|c| !CONSTRAINTS.contains(&c.as_str()))
    {
        return Err(invalid(
            at,
            format!("{bad:?} is not a constraint ({})", CONSTRAINTS.join(", ")),
        ));
    }
    Ok(constraints)
}

/// `features`: lower-case words such as `primary-key`.
fn attr_features(map: &Map<String, Value>, at: &str) -> Result<Vec<String>, SchemaError> {
    let features = string_list(map, "features", at)?;
    if let Some(bad) = features.iter().find(|f| {
        f.is_empty()
            || f.len() > MAX_NAME_LEN
            || !f.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
    }) {
        return Err(invalid(at, format!("{bad:?} is not an attribute feature")));
    }
    Ok(features)
}

/// `attr_defs`: required for `object` and `plural`, refused for the other types.
fn children(
    map: &Map<String, Value>,
    at: &str,
    kind: AttrType,
    depth: usize,
    count: &mut usize,
) -> Result<Option<Vec<AttrDef>>, SchemaError> {
    match (kind.is_container(), map.get("attr_defs")) {
        (false, None | Some(Value::Null)) => Ok(None),
        (false, Some(_)) => Err(invalid(
            at,
            "only object and plural attributes have attr_defs",
        )),
        (true, None | Some(Value::Null)) => {
            Err(invalid(at, format!("{kind} attributes need attr_defs")))
        }
        (true, Some(Value::Array(items))) => {
            if depth >= MAX_DEPTH {
                return Err(invalid(
                    at,
                    format!("attributes nest at most {MAX_DEPTH} levels deep"),
                ));
            }
            Ok(Some(parse_level(items, Some(at), depth + 1, count)?))
        }
        (true, Some(_)) => Err(invalid(at, "attr_defs must be a list")),
    }
}

/// A list of strings, duplicates dropped (order kept).
fn string_list(
    map: &Map<String, Value>,
    key: &'static str,
    at: &str,
) -> Result<Vec<String>, SchemaError> {
    let items = match map.get(key) {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(v) => super::string_list(v, super::Field::Wire(key))
            .map_err(|_| invalid(at, format!("{key} must be a list of strings")))?,
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for s in items {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Checks and canonicalises the attribute list of an access schema for `et`: every path must
/// name an attribute of the type (else `UnknownAttribute`, named as written). The result holds
/// the reserved four first, then the caller's paths in their order, canonical, without
/// duplicates and without paths a listed parent already covers.
pub fn normalize_schema(
    et: &EntityType,
    raw: &[String],
) -> Result<Vec<AttributePath>, SchemaError> {
    let mut parsed = Vec::with_capacity(raw.len());
    for r in raw {
        let path = AttributePath::parse(r)?;
        if !et.contains(&path) {
            return Err(SchemaError::UnknownAttribute { path: r.clone() });
        }
        parsed.push(path);
    }
    let mut out: Vec<AttributePath> = RESERVED.iter().map(|n| AttributePath::root(n)).collect();
    for path in &parsed {
        if out.contains(path) {
            continue;
        }
        let covered_by_other = parsed
            .iter()
            .any(|other| other != path && other.covers(path));
        if !covered_by_other {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Stored schema paths (canonical text) back into paths; anything unreadable is skipped (the
/// store only ever holds canonical paths).
pub fn stored_schema(attributes: &[String]) -> Vec<AttributePath> {
    attributes
        .iter()
        .filter_map(|a| AttributePath::parse(a).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaf_paths_walk_containers() {
        let defs = parse_attr_defs(&json!([
            {"name": "email", "type": "string"},
            {"name": "address", "type": "object", "attr_defs": [
                {"name": "city", "type": "string"},
                {"name": "geo", "type": "object", "attr_defs": [{"name": "lat", "type": "decimal"}]}
            ]},
            {"name": "tags", "type": "plural", "attr_defs": []}
        ]))
        .unwrap();
        let et = EntityType::new("user".into(), defs);
        assert_eq!(
            leaf_paths(&et.attr_defs()),
            [
                "id",
                "uuid",
                "created",
                "lastUpdated",
                "email",
                "address.city",
                "address.geo.lat",
                "tags"
            ]
        );
        let schema = normalize_schema(&et, &["address.geo".into()]).unwrap();
        assert_eq!(
            leaf_paths(&et.restricted(&schema)),
            ["id", "uuid", "created", "lastUpdated", "address.geo.lat"]
        );
    }

    fn path(s: &str) -> AttributePath {
        AttributePath::parse(s).unwrap()
    }

    fn user() -> EntityType {
        let defs = parse_attr_defs(&json!([
            {"name": "email", "type": "string", "length": 256, "constraints": ["unique", "required"]},
            {"name": "givenName", "type": "string"},
            {"name": "familyName", "type": "string"},
            {"name": "birthday", "type": "date"},
            {"name": "gender", "type": "string"},
            {"name": "optIns", "type": "object", "attr_defs": [
                {"name": "newsletter", "type": "boolean"},
                {"name": "partners", "type": "boolean"}
            ]},
            {"name": "primaryAddress", "type": "object", "attr_defs": [
                {"name": "city", "type": "string"},
                {"name": "zip", "type": "string"},
                {"name": "geo", "type": "object", "attr_defs": [
                    {"name": "lat", "type": "decimal"},
                    {"name": "lon", "type": "decimal"}
                ]}
            ]},
            {"name": "interests", "type": "plural", "attr_defs": [
                {"name": "name", "type": "string"},
                {"name": "score", "type": "integer"}
            ]}
        ]))
        .unwrap();
        EntityType::new("user".into(), defs)
    }

    fn reason(e: SchemaError) -> String {
        match e {
            SchemaError::InvalidAttrDef { reason } => reason,
            other => panic!("expected InvalidAttrDef, got {other:?}"),
        }
    }

    fn parse_err(v: Value) -> String {
        reason(parse_attr_defs(&v).unwrap_err())
    }

    // ---- attribute types and definitions ----

    #[test]
    fn every_type_name_round_trips() {
        let names = [
            "string", "boolean", "integer", "decimal", "date", "dateTime", "time", "json",
            "password", "uuid", "id", "object", "plural",
        ];
        assert_eq!(AttrType::ALL.len(), names.len());
        for n in names {
            let t: AttrType = n.parse().unwrap();
            assert_eq!(t.as_str(), n);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(n));
        }
        assert!("datetime".parse::<AttrType>().is_err(), "case sensitive");
        assert!("String".parse::<AttrType>().is_err());
    }

    #[test]
    fn only_object_and_plural_are_containers() {
        for t in AttrType::ALL {
            assert_eq!(
                t.is_container(),
                matches!(t, AttrType::Object | AttrType::Plural)
            );
        }
    }

    #[test]
    fn parses_every_field() {
        let defs = parse_attr_defs(&json!([
            {"name": "email", "type": "string", "description": "primary e-mail", "length": 256,
             "case-sensitive": false, "constraints": ["unique", "required", "unique"],
             "features": ["primary-key"]},
            {"name": "addr", "type": "plural", "attr_defs": []},
            {"name": "plain", "type": "json", "description": null, "length": null}
        ]))
        .unwrap();
        assert_eq!(defs[0].description.as_deref(), Some("primary e-mail"));
        assert_eq!(defs[0].length, Some(256));
        assert_eq!(defs[0].case_sensitive, Some(false));
        assert_eq!(
            defs[0].constraints,
            vec!["unique", "required"],
            "duplicates collapse"
        );
        assert_eq!(defs[0].features, vec!["primary-key"]);
        assert_eq!(defs[1].attr_defs, Some(vec![]));
        assert_eq!(defs[2].description, None);
        assert_eq!(defs[2].length, None);
    }

    #[test]
    fn serialises_in_vendor_order_without_absent_fields() {
        let defs = parse_attr_defs(&json!([
            {"type": "string", "length": 10, "name": "a", "description": "d"},
            {"name": "o", "type": "object", "attr_defs": [{"name": "x", "type": "boolean"}]}
        ]))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&defs).unwrap(),
            r#"[{"name":"a","description":"d","type":"string","length":10},{"name":"o","type":"object","attr_defs":[{"name":"x","type":"boolean"}]}]"#
        );
        // And what is stored reads back identically.
        let back: Vec<AttrDef> =
            serde_json::from_value(serde_json::to_value(&defs).unwrap()).unwrap();
        assert_eq!(back, defs);
    }

    #[test]
    fn reserved_attributes_come_first_with_vendor_descriptions() {
        let shown = serde_json::to_value(user().attr_defs()).unwrap();
        assert_eq!(
            shown[0],
            json!({"name": "id", "description": "simple identifier for this entity", "type": "id"})
        );
        assert_eq!(shown[1]["name"], "uuid");
        assert_eq!(shown[1]["type"], "uuid");
        assert_eq!(
            shown[2],
            json!({"name": "created", "description": "when this entity was created", "type": "dateTime"})
        );
        assert_eq!(shown[3]["name"], "lastUpdated");
        assert_eq!(shown[3]["type"], "dateTime");
        assert_eq!(shown[4]["name"], "email");
        assert_eq!(user().user_attr_defs().len(), 8);
    }

    #[test]
    fn attr_defs_must_be_a_list_of_objects() {
        assert_eq!(
            parse_err(json!({"name": "x"})),
            "attr_defs must be a list of attribute definitions"
        );
        assert_eq!(
            parse_err(json!(["x"])),
            "attr_defs[0]: an attribute definition must be a JSON object"
        );
    }

    #[test]
    fn names_are_required_and_checked() {
        assert_eq!(
            parse_err(json!([{"type": "string"}])),
            "attr_defs[0]: name is required"
        );
        for bad in [
            json!(""),
            json!("1abc"),
            json!("a.b"),
            json!("a/b"),
            json!("a b"),
            json!(7),
            json!("x".repeat(65)),
        ] {
            let msg = parse_err(
                json!([{"name": "ok", "type": "string"}, {"name": bad, "type": "string"}]),
            );
            assert!(
                msg.starts_with("attr_defs[1]: name must be letters"),
                "{msg}"
            );
        }
        assert!(parse_attr_defs(&json!([{"name": "a_1B", "type": "string"}])).is_ok());
        assert!(parse_attr_defs(&json!([{"name": "x".repeat(64), "type": "string"}])).is_ok());
    }

    #[test]
    fn types_are_required_and_known() {
        assert_eq!(parse_err(json!([{"name": "a"}])), "a: type is required");
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "strin"}])),
            "a: \"strin\" is not a type (string, boolean, integer, decimal, date, dateTime, time, json, password, uuid, id, object, plural)"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": 1}])),
            "a: type must be a string"
        );
    }

    #[test]
    fn containers_need_attr_defs_and_scalars_refuse_them() {
        assert_eq!(
            parse_err(json!([{"name": "o", "type": "object"}])),
            "o: object attributes need attr_defs"
        );
        assert_eq!(
            parse_err(json!([{"name": "p", "type": "plural", "attr_defs": null}])),
            "p: plural attributes need attr_defs"
        );
        assert_eq!(
            parse_err(json!([{"name": "s", "type": "string", "attr_defs": []}])),
            "s: only object and plural attributes have attr_defs"
        );
        assert_eq!(
            parse_err(json!([{"name": "o", "type": "object", "attr_defs": {}}])),
            "o: attr_defs must be a list"
        );
    }

    #[test]
    fn nested_errors_name_the_full_path() {
        assert_eq!(
            parse_err(json!([{"name": "o", "type": "object", "attr_defs": [
                {"name": "p", "type": "plural", "attr_defs": [{"name": "z", "type": "nope"}]}
            ]}])),
            "o.p.z: \"nope\" is not a type (string, boolean, integer, decimal, date, dateTime, time, json, password, uuid, id, object, plural)"
        );
        assert_eq!(
            parse_err(json!([{"name": "o", "type": "object", "attr_defs": [{"type": "string"}]}])),
            "o.attr_defs[0]: name is required"
        );
    }

    #[test]
    fn optional_fields_are_type_checked() {
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "description": 3}])),
            "a: description must be a string"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "description": "d".repeat(1001)}])),
            "a: description is longer than 1000 characters"
        );
        for bad in [json!(0), json!(-1), json!(1.5), json!("10")] {
            assert_eq!(
                parse_err(json!([{"name": "a", "type": "string", "length": bad}])),
                "a: length must be a positive integer"
            );
        }
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "integer", "length": 5}])),
            "a: length applies to string attributes only"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "case-sensitive": "no"}])),
            "a: case-sensitive must be true or false"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "constraints": "unique"}])),
            "a: constraints must be a list of strings"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "constraints": [1]}])),
            "a: constraints must be a list of strings"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "constraints": ["uniq"]}])),
            "a: \"uniq\" is not a constraint (unique, locally-unique, required, alphabetic, alphanumeric, unicode-letters, unicode-printable, email-address)"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "features": ["Primary Key"]}])),
            "a: \"Primary Key\" is not an attribute feature"
        );
        assert_eq!(
            parse_err(json!([{"name": "a", "type": "string", "contraints": ["unique"]}])),
            "a: unknown field \"contraints\""
        );
    }

    #[test]
    fn every_known_constraint_is_accepted() {
        for c in CONSTRAINTS {
            assert!(
                parse_attr_defs(&json!([{"name": "a", "type": "string", "constraints": [c]}]))
                    .is_ok(),
                "{c}"
            );
        }
    }

    #[test]
    fn duplicate_names_at_one_level_are_refused() {
        assert_eq!(
            parse_attr_defs(
                &json!([{"name": "a", "type": "string"}, {"name": "a", "type": "date"}])
            ),
            Err(SchemaError::DuplicateAttribute { path: "a".into() })
        );
        assert_eq!(
            parse_attr_defs(&json!([{"name": "o", "type": "object", "attr_defs": [
                {"name": "x", "type": "string"}, {"name": "x", "type": "string"}]}])),
            Err(SchemaError::DuplicateAttribute { path: "o.x".into() })
        );
        // The same name at different levels is fine.
        assert!(parse_attr_defs(&json!([{"name": "x", "type": "string"},
            {"name": "o", "type": "object", "attr_defs": [{"name": "x", "type": "string"}]}]))
        .is_ok());
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let mut v = json!({"name": "leaf", "type": "string"});
        for i in 0..MAX_DEPTH - 1 {
            v = json!({"name": format!("o{i}"), "type": "object", "attr_defs": [v]});
        }
        assert!(
            parse_attr_defs(&json!([v.clone()])).is_ok(),
            "{MAX_DEPTH} levels"
        );
        let deeper = json!({"name": "top", "type": "object", "attr_defs": [v]});
        assert!(parse_err(json!([deeper])).ends_with("attributes nest at most 8 levels deep"));
    }

    #[test]
    fn attribute_count_is_bounded() {
        let many: Vec<Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| json!({"name": format!("a{i}"), "type": "string"}))
            .collect();
        assert_eq!(
            parse_err(Value::Array(many.clone())),
            "a1000: an entity type has at most 1000 attributes"
        );
        assert!(parse_attr_defs(&Value::Array(many[..MAX_ATTRIBUTES].to_vec())).is_ok());
    }

    #[test]
    fn reserved_names_are_refused_unless_exactly_as_shown() {
        for name in RESERVED {
            assert_eq!(
                parse_attr_defs(&json!([{"name": name, "type": "string"}])),
                Err(SchemaError::ReservedAttribute { name: name.into() })
            );
        }
        // A type read with GET can be sent back: the reserved four are dropped, not stored.
        let shown = serde_json::to_value(user().attr_defs()).unwrap();
        assert_eq!(parse_attr_defs(&shown).unwrap(), user().user_attr_defs());
        // Reserved names are reserved at the top level only.
        assert!(parse_attr_defs(&json!([{"name": "o", "type": "plural", "attr_defs": [{"name": "id", "type": "string"}]}])).is_ok());
    }

    #[test]
    fn type_names() {
        assert_eq!(TypeName::parse("user").unwrap().as_str(), "user");
        assert_eq!(TypeName::parse("user_2").unwrap().as_str(), "user_2");
        use crate::domain::ids::Named;
        assert_eq!(
            Named::<TypeName>::parse("user"),
            Named::Id(TypeName::from_trusted("user"))
        );
        assert_eq!(
            Named::<TypeName>::parse("a.b"),
            Named::Malformed("a.b".into())
        );
        for bad in [
            "",
            "2user",
            "user-x",
            "us er",
            "a.b",
            "a/b",
            &"u".repeat(65),
        ] {
            assert_eq!(
                TypeName::parse(bad),
                Err(SchemaError::InvalidTypeName),
                "{bad:?}"
            );
        }
    }

    // ---- adding and removing ----

    #[test]
    fn add_attribute_checks_reserved_duplicates_and_size() {
        let mut et = user();
        let def = parse_attr_def(&json!({"name": "nickname", "type": "string"})).unwrap();
        et.add_attribute(def.clone()).unwrap();
        assert!(et.contains(&path("nickname")));
        assert_eq!(
            et.add_attribute(def),
            Err(SchemaError::DuplicateAttribute {
                path: "nickname".into()
            })
        );
        for name in RESERVED {
            let def = parse_attr_def(&json!({"name": name, "type": "string"})).unwrap();
            assert_eq!(
                et.add_attribute(def),
                Err(SchemaError::ReservedAttribute { name: name.into() })
            );
        }
        let mut big = EntityType::new("big".into(), vec![]);
        for i in 0..MAX_ATTRIBUTES {
            big.add_attribute(
                parse_attr_def(&json!({"name": format!("a{i}"), "type": "string"})).unwrap(),
            )
            .unwrap();
        }
        assert!(matches!(
            big.add_attribute(parse_attr_def(&json!({"name": "last", "type": "string"})).unwrap()),
            Err(SchemaError::InvalidAttrDef { .. })
        ));
    }

    #[test]
    fn parse_attr_def_reports_like_the_list() {
        assert_eq!(
            reason(parse_attr_def(&json!({"name": "a"})).unwrap_err()),
            "a: type is required"
        );
        assert_eq!(
            reason(parse_attr_def(&json!("a")).unwrap_err()),
            "attr_defs[0]: an attribute definition must be a JSON object"
        );
    }

    #[test]
    fn remove_attribute_by_any_spelling_and_nested() {
        let mut et = user();
        let removed = et.remove_attribute("/primaryAddress/geo").unwrap();
        assert_eq!(removed.name, "geo");
        assert!(!et.contains(&path("primaryAddress.geo.lat")));
        assert!(et.contains(&path("primaryAddress.city")));
        et.remove_attribute("/interests.score").unwrap();
        assert!(!et.contains(&path("interests.score")));
        et.remove_attribute("gender").unwrap();
        assert!(!et.contains(&path("gender")));
        assert_eq!(
            et.remove_attribute("gender"),
            Err(SchemaError::UnknownAttribute {
                path: "gender".into()
            })
        );
        assert_eq!(
            et.remove_attribute("email.x"),
            Err(SchemaError::UnknownAttribute {
                path: "email.x".into()
            })
        );
        assert_eq!(
            et.remove_attribute("a..b"),
            Err(SchemaError::UnknownAttribute {
                path: "a..b".into()
            })
        );
        for name in ["id", "/uuid", "created", "lastUpdated"] {
            assert!(matches!(
                et.remove_attribute(name),
                Err(SchemaError::ReservedAttribute { .. })
            ));
        }
    }

    // ---- paths ----

    #[test]
    fn three_spellings_give_one_canonical_path() {
        for raw in [
            "primaryAddress.city",
            "/primaryAddress.city",
            "/primaryAddress/city",
            "primaryAddress/city",
        ] {
            assert_eq!(path(raw).to_string(), "primaryAddress.city", "{raw}");
            assert_eq!(path(raw), path("primaryAddress.city"));
        }
        assert_eq!(path("/email").to_string(), "email");
        assert_eq!(path("/a/b.c/d").to_string(), "a.b.c.d");
    }

    #[test]
    fn malformed_paths_are_unknown_attributes_named_as_written() {
        for raw in [
            "", "/", "//a", "a.", ".a", "a..b", "a//b", "a b", "a.-", "1a", "a/", "/a/", "a.b.",
            "ä",
        ] {
            assert_eq!(
                AttributePath::parse(raw),
                Err(SchemaError::UnknownAttribute { path: raw.into() }),
                "{raw:?}"
            );
        }
        let deep = ["a"; MAX_DEPTH + 1].join(".");
        assert!(AttributePath::parse(&deep).is_err());
        assert!(AttributePath::parse(&"a".repeat(MAX_PATH_LEN + 1)).is_err());
    }

    #[test]
    fn parents_cover_children_and_not_the_reverse() {
        assert!(path("primaryAddress").covers(&path("primaryAddress.city")));
        assert!(path("primaryAddress").covers(&path("primaryAddress.geo.lat")));
        assert!(path("primaryAddress.city").covers(&path("primaryAddress.city")));
        assert!(!path("primaryAddress.city").covers(&path("primaryAddress")));
        assert!(!path("primaryAddress.city").covers(&path("primaryAddress.zip")));
        assert!(
            !path("primary").covers(&path("primaryAddress")),
            "segments, not text prefixes"
        );
    }

    #[test]
    fn resolves_top_level_nested_plural_and_reserved() {
        let et = user();
        for (p, kind) in [
            ("email", AttrType::String),
            ("/primaryAddress/geo/lat", AttrType::Decimal),
            ("interests.name", AttrType::String),
            ("interests", AttrType::Plural),
            ("lastUpdated", AttrType::DateTime),
        ] {
            assert_eq!(et.resolve(&path(p)).map(|d| d.kind), Some(kind), "{p}");
        }
        for (p, why) in [
            ("email.x", "scalars have no children"),
            ("primaryAddress.country", "not defined"),
            ("Email", "case sensitive"),
            ("id.x", "reserved attributes have no children"),
        ] {
            assert!(et.resolve(&path(p)).is_none(), "{p}: {why}");
        }
    }

    // ---- access schema lists ----

    fn canonical(list: &[&str]) -> Result<Vec<String>, SchemaError> {
        let raw: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        normalize_schema(&user(), &raw).map(|v| v.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn schema_lists_are_canonical_with_reserved_first() {
        assert_eq!(
            canonical(&["/primaryAddress/city", "email", "/optIns.newsletter"]).unwrap(),
            vec![
                "id",
                "uuid",
                "created",
                "lastUpdated",
                "primaryAddress.city",
                "email",
                "optIns.newsletter"
            ]
        );
        assert_eq!(
            canonical(&[]).unwrap(),
            vec!["id", "uuid", "created", "lastUpdated"]
        );
    }

    #[test]
    fn schema_lists_drop_duplicates_reserved_repeats_and_covered_children() {
        assert_eq!(
            canonical(&[
                "email",
                "/email",
                "uuid",
                "primaryAddress.city",
                "primaryAddress",
                "/primaryAddress/geo/lat",
                "id"
            ])
            .unwrap(),
            vec![
                "id",
                "uuid",
                "created",
                "lastUpdated",
                "email",
                "primaryAddress"
            ]
        );
        assert_eq!(
            canonical(&["interests.name", "interests/score"]).unwrap(),
            vec![
                "id",
                "uuid",
                "created",
                "lastUpdated",
                "interests.name",
                "interests.score"
            ]
        );
    }

    #[test]
    fn schema_lists_refuse_unknown_attributes_named_as_written() {
        assert_eq!(
            canonical(&["email", "/primaryAddress/country"]),
            Err(SchemaError::UnknownAttribute {
                path: "/primaryAddress/country".into()
            })
        );
        assert_eq!(
            canonical(&["email.."]),
            Err(SchemaError::UnknownAttribute {
                path: "email..".into()
            })
        );
        assert_eq!(
            canonical(&["email.domain"]),
            Err(SchemaError::UnknownAttribute {
                path: "email.domain".into()
            })
        );
    }

    #[test]
    fn stored_schema_reads_back() {
        let stored = vec!["id".to_string(), "primaryAddress.city".to_string()];
        assert_eq!(
            stored_schema(&stored),
            vec![path("id"), path("primaryAddress.city")]
        );
    }

    #[test]
    fn restricted_view_keeps_type_order_subtrees_and_partial_parents() {
        let et = user();
        let schema = normalize_schema(
            &et,
            &[
                "interests".into(),
                "primaryAddress.geo.lat".into(),
                "email".into(),
                "optIns".into(),
            ],
        )
        .unwrap();
        let view = serde_json::to_value(et.restricted(&schema)).unwrap();
        let names: Vec<&str> = view
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![
                "id",
                "uuid",
                "created",
                "lastUpdated",
                "email",
                "optIns",
                "primaryAddress",
                "interests"
            ]
        );
        assert_eq!(
            view[5]["attr_defs"].as_array().unwrap().len(),
            2,
            "whole optIns"
        );
        assert_eq!(
            view[6],
            json!({"name": "primaryAddress", "type": "object", "attr_defs": [
                {"name": "geo", "type": "object", "attr_defs": [{"name": "lat", "type": "decimal"}]}
            ]})
        );
        assert_eq!(
            view[7]["attr_defs"].as_array().unwrap().len(),
            2,
            "whole plural"
        );
        assert_eq!(
            view[4],
            json!({"name": "email", "type": "string", "length": 256, "constraints": ["unique", "required"]})
        );
    }

    #[test]
    fn restricted_view_with_only_reserved() {
        let et = user();
        let schema = normalize_schema(&et, &[]).unwrap();
        assert_eq!(et.restricted(&schema), reserved_attr_defs().to_vec());
    }
}

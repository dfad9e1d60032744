//! Pure rules of the model: no I/O here, so everything is unit tested directly.

pub mod access;
pub mod allow_list;
pub mod audit;
pub mod audit_action;
pub mod audit_changes;
pub mod audit_query;
pub mod audit_report;
pub mod audit_verify;
pub mod client;
pub mod entitlements;
pub mod entity_type;
pub mod evidence;
pub mod features;
pub mod fixture;
pub mod ids;
pub mod merkle;
pub mod note;
pub mod oauth;
pub mod read_routing;
pub mod settings;
pub mod sink;
pub mod wire_name;

pub use allow_list::AllowList;
pub use client::{ClientName, Region};
pub use features::{Feature, FeatureSet};

/// What a refused value is about. The model's own fields are named here; each HTTP surface and
/// the console map them to their wire names in one place (`description` for `Name` on the
/// Registration API, `name` on the Config API). A value an adapter read by its own wire name
/// (a JSON key, a header, a form argument) is reported back under that name: `Wire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A client's or an application's name.
    Name,
    /// A client's IP allow list.
    IpWhitelist,
    /// Feature names.
    Features,
    /// An application's region.
    Region,
    /// A read's consistency requirement.
    Consistency,
    /// How long a replaced secret keeps working.
    HoursToLive,
    /// Text the database cannot store (U+0000), wherever it came from.
    Text,
    /// A value the adapter read, named as that adapter's caller named it.
    Wire(&'static str),
}

/// Why an input value was refused. Each variant is one message of the spec; both HTTP surfaces
/// map it into their own envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("Missing data for required field.")]
    MissingField { field: Field },
    #[error("Name not supplied")]
    NameNotSupplied,
    #[error("Not a valid string.")]
    NotAString { field: Field },
    #[error("Not a valid list.")]
    NotAList { field: Field },
    #[error("Not a valid integer.")]
    NotAnInteger { field: Field },
    #[error("Not a valid boolean.")]
    NotABoolean { field: Field },
    #[error("Must be greater than or equal to {min} and less than or equal to {max}.")]
    OutOfRange { field: Field, min: i64, max: i64 },
    #[error("Not a valid CIDR address.")]
    InvalidCidr { entry: String },
    #[error("Not a valid feature name.")]
    InvalidFeature { name: String },
    #[error("Clients with the login_client feature cannot have any other features.")]
    LoginClientExclusive,
    #[error("Not a valid region.")]
    InvalidRegion,
    #[error("Name is too long.")]
    NameTooLong,
    #[error("Not a valid consistency: \"minimize_latency\", \"fully_consistent\" or {{\"atLeastAsFresh\": \"<revision>\"}}.")]
    InvalidConsistency,
    #[error("The application has not reached this revision.")]
    RevisionNotReached,
    #[error("Not a valid revision.")]
    InvalidRevision { field: Field },
}

/// Whether PostgreSQL `text` can hold `s`: every Rust string but one containing U+0000. Text a
/// caller sends is checked against this where it enters (the surfaces' parameter and field
/// readers, the domain's text types), so it is refused as a bad value, never a database error.
pub fn is_storable_text(s: &str) -> bool {
    !s.contains('\0')
}

/// How deeply arrays and objects nest in `value`: 0 for a scalar, 1 for `[]` or `{"a": 1}`.
/// Iterative, so any value serde_json could build is measured without deep recursion.
pub fn json_depth(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    let mut deepest = 0;
    let mut pending = vec![(value, 1)];
    while let Some((v, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(depth);
        pending.extend(children.map(|c| (c, depth + 1)));
    }
    deepest
}

impl ValidationError {
    /// The request field the error is about (the Registration API names it in `argument_name`).
    pub fn field(&self) -> Field {
        match self {
            Self::MissingField { field }
            | Self::NotAString { field }
            | Self::NotAList { field }
            | Self::NotAnInteger { field }
            | Self::NotABoolean { field }
            | Self::OutOfRange { field, .. } => *field,
            Self::NameNotSupplied | Self::NameTooLong => Field::Name,
            Self::InvalidCidr { .. } => Field::IpWhitelist,
            Self::InvalidFeature { .. } | Self::LoginClientExclusive => Field::Features,
            Self::InvalidRegion => Field::Region,
            Self::InvalidConsistency | Self::RevisionNotReached => Field::Consistency,
            Self::InvalidRevision { field } => *field,
        }
    }
}

/// A JSON array of strings, in order: the list parameters of both APIs (`features`,
/// `ipWhitelist`, `attributes`, …) and the lists inside attribute definitions.
pub fn string_list(
    value: &serde_json::Value,
    field: Field,
) -> Result<Vec<String>, ValidationError> {
    let serde_json::Value::Array(items) = value else {
        return Err(ValidationError::NotAList { field });
    };
    items
        .iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s.clone()),
            _ => Err(ValidationError::NotAString { field }),
        })
        .collect()
}

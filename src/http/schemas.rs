//! OpenAPI schemas of values whose rules live in `domain` (which stays free of documentation
//! concerns): used with `#[schema(schema_with = …)]` on the body types of both surfaces, so the
//! document states exactly what the domain accepts.

use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::RefOr;

use serde_json::{json, Value};

use crate::domain::client::MAX_NAME_CHARS;
use crate::domain::entity_type::{AttrType, CONSTRAINTS, MAX_DESCRIPTION_LEN, MAX_NAME_LEN};
use crate::domain::{Feature, Region};

/// Characters Rust's `char::is_whitespace` knows (a name made only of them is blank).
const WHITESPACE: &str =
    r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Text with at least one character that is not whitespace, and no NUL anywhere (PostgreSQL
/// `text` cannot hold U+0000, so the server refuses it with the field's ordinary error).
fn not_blank_pattern() -> String {
    format!("^[^\\u0000]*[^{WHITESPACE}\\u0000][^\\u0000]*$")
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A client or application name: not blank, at most 255 characters.
pub fn name() -> Schema {
    string()
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(not_blank_pattern()))
        .description(Some("Not blank, no NUL character; at most 255 characters."))
        .into()
}

/// One feature name.
pub fn feature() -> Schema {
    string()
        .enum_values(Some(Feature::ALL.map(Feature::as_str)))
        .into()
}

/// Feature names to filter on (any combination).
pub fn feature_filter() -> Schema {
    ArrayBuilder::new().items(RefOr::T(feature())).into()
}

/// A list of features: known names, `login_client` only alone.
pub fn feature_list() -> Schema {
    let names = |login: bool| {
        Feature::ALL
            .into_iter()
            .filter(move |f| login == (*f == Feature::LoginClient))
            .map(Feature::as_str)
    };
    let without_login =
        ArrayBuilder::new().items(RefOr::T(string().enum_values(Some(names(false))).into()));
    let login_alone =
        ArrayBuilder::new().items(RefOr::T(string().enum_values(Some(names(true))).into()));
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(without_login)
            .item(login_alone)
            .description(Some(
                "Feature names; `login_client` cannot be combined with any other.",
            ))
            .build(),
    )
}

/// An IPv4 block (dotted quad without leading zeros, prefix 0–32) or an IPv6 block (prefix
/// 0–128).
const CIDR: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$|^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$";

/// A list of CIDR blocks (`addr/prefix`, IPv4 or IPv6). Host bits behind the prefix are refused
/// too, which a pattern cannot say.
pub fn cidr_list() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(
            string()
                .pattern(Some(CIDR))
                .description(Some(
                    "A CIDR block: address/prefix, no host bits set behind the prefix.",
                ))
                .into(),
        ))
        .into()
}

/// The name of an audit action: the enum is `domain::audit::AuditAction`'s list.
pub fn audit_action() -> Schema {
    string()
        .enum_values(Some(
            crate::domain::audit::AuditAction::ALL
                .iter()
                .map(|a| a.as_str()),
        ))
        .into()
}

/// `read` or `write`.
pub fn access_type() -> Schema {
    string().enum_values(Some(["read", "write"])).into()
}

/// `any` or `self`.
pub fn record() -> Schema {
    string().enum_values(Some(["any", "self"])).into()
}

/// How fresh an access decision must be; absent or null: `minimize_latency`.
pub fn consistency() -> Schema {
    AnyOfBuilder::new()
        .item(string().enum_values(Some(["minimize_latency", "fully_consistent"])))
        .item(
            ObjectBuilder::new()
                .property(
                    "atLeastAsFresh",
                    AnyOfBuilder::new()
                        .item(string().pattern(Some("^[0-9]{1,18}$")))
                        .item(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(0))
                                .maximum(Some(i64::MAX)),
                        ),
                )
                .required("atLeastAsFresh")
                .additional_properties(Some(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                )),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// An IPv4 or IPv6 address, or null (as if absent).
pub fn optional_ip_address() -> Schema {
    AnyOfBuilder::new()
        .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv4))))
        .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv6))))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// Text that is not only whitespace.
pub fn not_blank() -> Schema {
    string().pattern(Some(not_blank_pattern())).into()
}

/// `newest` or `oldest`.
pub fn order() -> Schema {
    string().enum_values(Some(["newest", "oldest"])).into()
}

/// `json`, `ndjson` or `csv`.
pub fn audit_format() -> Schema {
    string().enum_values(Some(["json", "ndjson", "csv"])).into()
}

/// `json` or `yaml`: the formats of a fixture export.
pub fn export_format() -> Schema {
    string().enum_values(Some(["json", "yaml"])).into()
}

/// Audit anchors, `SEQ:HASH`.
pub fn anchors() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(
            string()
                .pattern(Some("^[1-9][0-9]{0,17}:[0-9a-fA-F]{64}$"))
                .into(),
        ))
        .into()
}

/// A flat object of settings.
pub fn settings() -> Schema {
    ObjectBuilder::new()
        .property_names(Some(
            string()
                .min_length(Some(1))
                .max_length(Some(crate::domain::settings::MAX_KEY_BYTES))
                .pattern(Some(format!(
                    "^[^{WHITESPACE}\\u0000-\\u001f\\u007f-\\u009f]+$"
                ))),
        ))
        .additional_properties(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "SettingValue",
        ))))
        .description(Some(
            "Key → any JSON value. Keys: not empty, no whitespace or control characters, at \
             most 255 bytes of UTF-8; each value at most 64 KiB of JSON.",
        ))
        .into()
}

/// Any JSON value with no NUL character in any string or key inside it (PostgreSQL `jsonb`
/// cannot hold U+0000, so the server refuses such a setting value).
fn setting_value() -> Value {
    let no_nul = json!({"type": "string", "pattern": "^[^\\u0000]*$"});
    let value = json!({"$ref": "#/components/schemas/SettingValue"});
    json!({
        "description": "Any JSON value without a NUL character in its strings or keys.",
        "anyOf": [
            no_nul,
            {"type": ["number", "boolean", "null"]},
            {"type": "array", "items": value},
            {"type": "object", "propertyNames": no_nul, "additionalProperties": value},
        ]
    })
}

/// `"error"`.
pub fn stat_error() -> Schema {
    string().enum_values(Some(["error"])).into()
}

/// The Registration API's error codes.
pub fn registration_code() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([
            100, 200, 201, 205, 221, 222, 223, 232, 233, 234, 361, 402, 403, 500, 510,
        ]))
        .into()
}

/// Parameters whose values the server restricts, by name: the document gives every parameter
/// of that name (path or query, either surface) this schema. `#[utoipa::path]` cannot take a
/// schema function for a parameter, so the handlers declare them as `String` and this refines.
pub fn parameter(path: &str, name: &str) -> Option<Schema> {
    Some(match name {
        // The export of a fixture, not of the audit log.
        "format" if path.ends_with("/export") => export_format(),
        "accessType" | "access_type" => access_type(),
        "has_feature" => feature_filter(),
        "client" | "actor" | "action" => not_blank(),
        "feature" => feature(),
        "order" => order(),
        "format" => audit_format(),
        "anchor" => anchors(),
        _ => return None,
    })
}

/// An application region, or null (as if absent: `us`).
pub fn optional_region() -> Schema {
    AnyOfBuilder::new()
        .item(region())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// An application region.
pub fn region() -> Schema {
    string()
        .enum_values(Some(Region::ALL.map(Region::as_str)))
        .into()
}

/// `[A-Za-z][A-Za-z0-9_]*`, at most 64 characters: type and attribute names.
pub fn type_name() -> Schema {
    string()
        .pattern(Some(format!(
            "^[A-Za-z][A-Za-z0-9_]{{0,{}}}$",
            MAX_NAME_LEN - 1
        )))
        .into()
}

/// `(component, property, schema)`.
pub type RefinedProperty = (&'static str, &'static str, Value);

/// Schemas too involved for the builders, as JSON: `(component, property)` → schema, and the
/// components they name. The document replaces those properties with these.
pub fn refined_properties() -> (Vec<RefinedProperty>, Vec<(&'static str, Value)>) {
    let attr_defs =
        json!({"type": "array", "items": {"$ref": "#/components/schemas/AttrDefInput"}});
    (
        vec![
            ("EntityTypeInput", "attr_defs", attr_defs.clone()),
            ("EntityTypeChange", "attr_defs", attr_defs),
        ],
        vec![
            ("AttrDefInput", attr_def_input(true)),
            ("AttrDefNested", attr_def_input(false)),
            ("SettingValue", setting_value()),
        ]
        .into_iter()
        .chain(crate::http::oauth::schemas::components())
        .collect(),
    )
}

/// One attribute definition as the server accepts it (`domain::entity_type::parse_one`): a
/// name (not a reserved one), a type, `length` for strings only, nested `attr_defs` exactly for
/// `object` and `plural`. Names must also be unique among their siblings, which a schema
/// cannot say.
fn attr_def_input(top_level: bool) -> Value {
    let types = |pick: fn(AttrType) -> bool| -> Vec<&'static str> {
        AttrType::ALL
            .into_iter()
            .filter(|t| pick(*t))
            .map(AttrType::as_str)
            .collect()
    };
    let mut name = json!({"type": "string",
        "pattern": format!("^[A-Za-z][A-Za-z0-9_]{{0,{}}}$", MAX_NAME_LEN - 1)});
    if top_level {
        // The reserved attributes exist in every type; nested ones may take their names.
        name["not"] = json!({"enum": ["id", "uuid", "created", "lastUpdated"]});
    }
    let common = json!({
        "name": name,
        "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION_LEN, "pattern": "^[^\\u0000]*$"},
        "case-sensitive": {"type": ["boolean", "null"]},
        "constraints": {"type": ["array", "null"], "items": {"type": "string", "enum": CONSTRAINTS}},
        "features": {"type": ["array", "null"],
                     "items": {"type": "string", "pattern": format!("^[a-z-]{{1,{MAX_NAME_LEN}}}$")}},
    });
    let variant = |kinds: Vec<&'static str>, extra: Value, required: &[&str]| {
        let mut properties = common.clone();
        properties["type"] = json!({"type": "string", "enum": kinds});
        if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let mut req = vec!["name", "type"];
        req.extend_from_slice(required);
        json!({"type": "object", "properties": properties, "required": req,
               "additionalProperties": false})
    };
    json!({
        "description": "An attribute definition. Sibling names must be unique.",
        "anyOf": [
            variant(types(|t| t == AttrType::String),
                json!({"length": {"type": ["integer", "null"], "minimum": 1, "maximum": u32::MAX}}), &[]),
            variant(types(|t| t != AttrType::String && !t.is_container()), json!({}), &[]),
            variant(types(AttrType::is_container),
                json!({"attr_defs": {"type": "array", "items": {"$ref": "#/components/schemas/AttrDefNested"}}}),
                &["attr_defs"]),
        ]
    })
}

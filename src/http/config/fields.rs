//! JSON type checks of Config API bodies, with the seed's messages ("Missing data for required
//! field.", "Not a valid string.", "Not a valid list."). What the values mean is the service's
//! business; these only say whether they have the right JSON type.

use serde_json::{Map, Value};

use crate::domain::{is_storable_text, Field, ValidationError};

/// An array of strings (`domain::string_list`) that PostgreSQL can store: a string holding
/// U+0000 is "Not a valid string." like any other non-string item.
pub fn string_list(value: &Value, field: &'static str) -> Result<Vec<String>, ValidationError> {
    let items = crate::domain::string_list(value, Field::Wire(field))?;
    if items.iter().all(|s| is_storable_text(s)) {
        Ok(items)
    } else {
        Err(ValidationError::NotAString {
            field: Field::Wire(field),
        })
    }
}

pub fn required_string_list(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Vec<String>, ValidationError> {
    match body.get(field) {
        None => Err(ValidationError::MissingField {
            field: Field::Wire(field),
        }),
        Some(v) => string_list(v, field),
    }
}

pub fn required_string(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<String, ValidationError> {
    optional_string(body, field)?.ok_or(ValidationError::MissingField {
        field: Field::Wire(field),
    })
}

/// Absent or `null`: `None`.
pub fn optional_string(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ValidationError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if is_storable_text(s) => Ok(Some(s.clone())),
        Some(_) => Err(ValidationError::NotAString {
            field: Field::Wire(field),
        }),
    }
}

/// A JSON integer: `5`, or a number with no fractional part (`5.0`), which JSON Schema (and so
/// the OpenAPI document) calls an integer too. Out of `i64` range: saturated (refused by range).
pub fn integer(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// Absent or `null`: `None`.
pub fn optional_bool(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<bool>, ValidationError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ValidationError::NotABoolean {
            field: Field::Wire(field),
        }),
    }
}

/// Absent or `null`: `None`; otherwise an array of strings.
pub fn optional_string_list(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<String>>, ValidationError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string_list(v, field).map(Some),
    }
}

/// Absent or `null`: `None`; otherwise a JSON integer.
pub fn optional_integer(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<i64>, ValidationError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(ValidationError::NotAnInteger {
            field: Field::Wire(field),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn lists() {
        assert_eq!(
            string_list(&json!(["a", "b"]), "f"),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            string_list(&json!("a"), "f"),
            Err(ValidationError::NotAList {
                field: Field::Wire("f")
            })
        );
        assert_eq!(
            string_list(&json!(null), "f"),
            Err(ValidationError::NotAList {
                field: Field::Wire("f")
            })
        );
        assert_eq!(
            string_list(&json!([1]), "f"),
            Err(ValidationError::NotAString {
                field: Field::Wire("f")
            })
        );
        assert_eq!(
            required_string_list(&obj(json!({})), "f"),
            Err(ValidationError::MissingField {
                field: Field::Wire("f")
            })
        );
    }

    #[test]
    fn strings() {
        let body = obj(json!({"s": "x", "n": null, "i": 1}));
        assert_eq!(required_string(&body, "s"), Ok("x".into()));
        assert_eq!(
            required_string(&body, "n"),
            Err(ValidationError::MissingField {
                field: Field::Wire("n")
            })
        );
        assert_eq!(
            required_string(&body, "i"),
            Err(ValidationError::NotAString {
                field: Field::Wire("i")
            })
        );
        assert_eq!(optional_string(&body, "absent"), Ok(None));
        assert_eq!(optional_string(&body, "n"), Ok(None));
    }
}

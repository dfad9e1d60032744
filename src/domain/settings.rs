//! Settings: string key → JSON value, as application defaults and per-client values. The
//! rules on keys and values, and the lookup order (client value, else default, else nothing).

use serde_json::{Map, Value};

/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 255;
/// Largest value, in bytes of its compact JSON text.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Deepest nesting of arrays and objects in a value (`[]` is 1 level, `[[]]` 2). Well below
/// serde_json's recursion limit of 128 when read back, also inside the audit event that
/// records the change (which adds 3 levels: `{"key": {"to": value}}` in the event object).
pub const MAX_VALUE_DEPTH: usize = 32;

/// Why a setting key or value was refused. Messages name the key where it helps find it in a
/// request that sets many (a key too long to be useful in a message is not echoed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("Setting keys must not be empty.")]
    EmptyKey,
    #[error("Setting key \"{key}\" must not contain whitespace or control characters.")]
    KeyWhitespace { key: String },
    #[error("Setting keys must be at most 255 bytes long.")]
    KeyTooLong,
    #[error("Setting value of \"{key}\" is larger than 65536 bytes of JSON.")]
    ValueTooLarge { key: String },
    /// PostgreSQL cannot store U+0000 in `jsonb` text, so it is refused up front.
    #[error("Setting value of \"{key}\" contains a NUL character.")]
    ValueNul { key: String },
    #[error("Setting value of \"{key}\" is nested deeper than 32 levels.")]
    ValueTooDeep { key: String },
}

impl SettingError {
    /// Whether the error is about the key (else it is about the value): the Registration API
    /// names the argument that carried it.
    pub fn is_about_key(&self) -> bool {
        matches!(
            self,
            Self::EmptyKey | Self::KeyWhitespace { .. } | Self::KeyTooLong
        )
    }
}

/// A valid key: not empty, no whitespace or control characters (the vendor's custom settings
/// "cannot contain spaces"; control characters cannot be stored or shown sanely), at most 255
/// bytes. Case sensitive and stored as given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SettingKey(String);

impl SettingKey {
    pub fn parse(raw: &str) -> Result<Self, SettingError> {
        if raw.is_empty() {
            return Err(SettingError::EmptyKey);
        }
        if raw.len() > MAX_KEY_BYTES {
            return Err(SettingError::KeyTooLong);
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SettingError::KeyWhitespace {
                key: raw.to_owned(),
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks a value for `key`: any JSON, at most 64 KiB as compact JSON, nested at most
/// [`MAX_VALUE_DEPTH`] levels, no NUL character in any string or object key.
pub fn check_value(key: &SettingKey, value: &Value) -> Result<(), SettingError> {
    if crate::domain::json_depth(value) > MAX_VALUE_DEPTH {
        return Err(SettingError::ValueTooDeep {
            key: key.as_str().to_owned(),
        });
    }
    if contains_nul(value) {
        return Err(SettingError::ValueNul {
            key: key.as_str().to_owned(),
        });
    }
    // Serialising a Value cannot fail; a failure would only make the length 0, never let a
    // large value through, because the writer counts every byte it gets.
    let mut counter = ByteCounter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    if counter.0 > MAX_VALUE_BYTES {
        return Err(SettingError::ValueTooLarge {
            key: key.as_str().to_owned(),
        });
    }
    Ok(())
}

/// Parses a whole set of settings (a Config API PUT body, a `set_multi` object): every key and
/// value checked, the first fault reported.
pub fn parse_items(items: Map<String, Value>) -> Result<Vec<(SettingKey, Value)>, SettingError> {
    items
        .into_iter()
        .map(|(k, v)| {
            let key = SettingKey::parse(&k)?;
            check_value(&key, &v)?;
            Ok((key, v))
        })
        .collect()
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Counts bytes instead of building the JSON text.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The settings a client sees: the application defaults, each overridden by the client's own
/// value for the same key.
pub fn overlay(defaults: Map<String, Value>, client: Map<String, Value>) -> Map<String, Value> {
    let mut merged = defaults;
    merged.extend(client);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(s: &str) -> SettingKey {
        SettingKey::parse(s).unwrap()
    }

    #[test]
    fn keys_must_not_be_empty() {
        assert_eq!(SettingKey::parse(""), Err(SettingError::EmptyKey));
    }

    #[test]
    fn keys_must_not_contain_whitespace_or_control_characters() {
        for bad in [
            "a b", " a", "a\t", "a\nb", "\u{3000}", "a\u{a0}b", "a\0b", "a\u{7f}",
        ] {
            assert_eq!(
                SettingKey::parse(bad),
                Err(SettingError::KeyWhitespace { key: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_are_at_most_255_bytes() {
        assert!(SettingKey::parse(&"k".repeat(255)).is_ok());
        assert_eq!(
            SettingKey::parse(&"k".repeat(256)),
            Err(SettingError::KeyTooLong)
        );
        // Counted in bytes, not characters: 128 × 2-byte "é" = 256 bytes.
        assert!(SettingKey::parse(&"é".repeat(127)).is_ok());
        assert_eq!(
            SettingKey::parse(&"é".repeat(128)),
            Err(SettingError::KeyTooLong)
        );
    }

    #[test]
    fn keys_are_kept_verbatim() {
        for ok in [
            "default_flow_name",
            "Key.With-Punct/And:Colons",
            "ünï",
            "_self",
            "0",
        ] {
            assert_eq!(SettingKey::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn any_json_value_is_accepted() {
        for v in [
            json!(null),
            json!(true),
            json!(1.5),
            json!("x"),
            json!([1, "a"]),
            json!({"a": {"b": []}}),
        ] {
            assert_eq!(check_value(&key("k"), &v), Ok(()), "{v}");
        }
    }

    #[test]
    fn values_are_at_most_64_kib_of_compact_json() {
        // A string of n bytes is n + 2 bytes of JSON (its quotes).
        let fits = Value::String("x".repeat(MAX_VALUE_BYTES - 2));
        assert_eq!(check_value(&key("k"), &fits), Ok(()));
        let too_big = Value::String("x".repeat(MAX_VALUE_BYTES - 1));
        assert_eq!(
            check_value(&key("k"), &too_big),
            Err(SettingError::ValueTooLarge { key: "k".into() })
        );
        // Escapes count as they are written: one control character is six bytes (\u0001).
        let escaped = Value::String("\u{1}".repeat(11_000));
        assert!(check_value(&key("k"), &escaped).is_err());
    }

    #[test]
    fn nul_characters_are_refused_anywhere() {
        for v in [
            json!("a\u{0}"),
            json!(["ok", "\u{0}"]),
            json!({"a\u{0}": 1}),
            json!({"a": {"b": "\u{0}"}}),
        ] {
            assert_eq!(
                check_value(&key("k"), &v),
                Err(SettingError::ValueNul { key: "k".into() }),
                "{v}"
            );
        }
    }

    #[test]
    fn parse_items_reports_the_first_fault() {
        let items = json!({"a": 1, "b c": 2}).as_object().unwrap().clone();
        assert_eq!(
            parse_items(items),
            Err(SettingError::KeyWhitespace { key: "b c".into() })
        );
        let items = json!({"a": 1, "b": [true]}).as_object().unwrap().clone();
        let parsed = parse_items(items).unwrap();
        assert_eq!(
            parsed,
            vec![(key("a"), json!(1)), (key("b"), json!([true]))]
        );
    }

    #[test]
    fn errors_say_what_they_are_about() {
        assert!(SettingError::EmptyKey.is_about_key());
        assert!(SettingError::KeyTooLong.is_about_key());
        assert!(!SettingError::ValueNul { key: "k".into() }.is_about_key());
        assert_eq!(
            SettingError::KeyWhitespace { key: "a b".into() }.to_string(),
            "Setting key \"a b\" must not contain whitespace or control characters."
        );
    }

    #[test]
    fn client_values_override_defaults() {
        let defaults = json!({"a": 1, "b": 2}).as_object().unwrap().clone();
        let client = json!({"b": null, "c": 3}).as_object().unwrap().clone();
        assert_eq!(
            Value::Object(overlay(defaults, client)),
            json!({"a": 1, "b": null, "c": 3}),
            "a client's null still overrides: it is a value"
        );
    }
}

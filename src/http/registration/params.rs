//! The parameters of a Registration API call: the query string and the form body merged into
//! one set of names. Array and object parameters arrive as JSON text inside a field
//! (`features=["direct_access"]`), as the vendor's API and client libraries send them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::RegError;
use crate::domain::{is_storable_text, Field, ValidationError};

/// Named text parameters. No `Debug`: `client_secret` is one of them.
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Merges the query string and an `application/x-www-form-urlencoded` body. A name given
    /// twice (in either place, or in both) is refused: which one the caller meant is unknowable.
    /// So is text that is not UTF-8 (the Config API refuses it too; it is never turned into
    /// U+FFFD) or that holds U+0000 (PostgreSQL `text` cannot): this is the one place every
    /// Registration API input passes.
    pub fn parse(query: &str, body: &[u8]) -> Result<Self, RegError> {
        let mut map = BTreeMap::new();
        for pair in query
            .as_bytes()
            .split(|b| *b == b'&')
            .chain(body.split(|b| *b == b'&'))
        {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = String::from_utf8(decode_component(name))
                .ok()
                .filter(|n| is_storable_text(n))
                .ok_or(RegError::BadRequest(
                    "a parameter name is not valid UTF-8 text",
                ))?;
            let value = String::from_utf8(decode_component(value))
                .map_err(|_| RegError::invalid(&name, &format!("{name} is not valid UTF-8")))?;
            if !is_storable_text(&value) {
                return Err(RegError::invalid(
                    &name,
                    &format!("{name} contains a NUL character"),
                ));
            }
            if map.contains_key(&name) {
                return Err(RegError::Duplicate {
                    argument: name,
                    alias: None,
                });
            }
            map.insert(name, value);
        }
        Ok(Self(map))
    }

    /// Every parameter, as sent (what a signed request's signature covers).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &'static str) -> Result<&str, RegError> {
        self.get(name).ok_or(RegError::Missing(name))
    }

    /// A parameter holding JSON text (`None` when absent).
    pub fn json(&self, name: &str) -> Result<Option<Value>, RegError> {
        self.get(name)
            .map(|text| {
                crate::http::request::parse_json(text.as_bytes())
                    .map_err(|_| RegError::invalid(name, "not valid JSON"))
            })
            .transpose()
    }

    /// A JSON array of strings (`features`, `whitelist`, `has_features`, `keys`).
    pub fn string_list(&self, name: &'static str) -> Result<Option<Vec<String>>, RegError> {
        let Some(value) = self.json(name)? else {
            return Ok(None);
        };
        crate::domain::string_list(&value, Field::Wire(name))
            .map(Some)
            .map_err(|e| RegError::invalid(name, &e.to_string()))
    }

    pub fn required_string_list(&self, name: &'static str) -> Result<Vec<String>, RegError> {
        self.string_list(name)?.ok_or(RegError::Missing(name))
    }

    /// A JSON object (`items`).
    pub fn required_object(&self, name: &'static str) -> Result<Map<String, Value>, RegError> {
        match self.json(name)? {
            None => Err(RegError::Missing(name)),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(RegError::invalid(name, "Not a valid object.")),
        }
    }

    /// A decimal integer (`hours_to_live`).
    pub fn required_integer(&self, name: &'static str) -> Result<i64, RegError> {
        self.required(name)?.parse().map_err(|_| {
            RegError::invalid(
                name,
                &ValidationError::NotAnInteger {
                    field: Field::Wire(name),
                }
                .to_string(),
            )
        })
    }

    /// A setting value. Text that starts with `[` or `{` is JSON (an array or object, as the
    /// vendor's libraries encode them) and must parse; any other text is the string itself,
    /// unchanged, so `value=5` stores the string "5" as the vendor's string-valued settings do.
    pub fn required_setting_value(&self, name: &'static str) -> Result<Value, RegError> {
        let text = self.required(name)?;
        if text.trim_start().starts_with(['[', '{']) {
            Ok(self.json(name)?.unwrap_or(Value::Null))
        } else {
            Ok(Value::String(text.to_owned()))
        }
    }
}

/// One `application/x-www-form-urlencoded` name or value as bytes: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is (as browsers and `form_urlencoded`
/// read it).
fn decode_component(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|b| hex(*b)),
                raw.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(query: &str, body: &str) -> Params {
        Params::parse(query, body.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn query_and_body_merge() {
        let params = p("a=1&b=x%20y", "c=%5B%22q%22%5D&d=");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), Some("x y"));
        assert_eq!(params.get("c"), Some("[\"q\"]"));
        assert_eq!(params.get("d"), Some(""), "present but empty is not absent");
        assert_eq!(params.get("e"), None);
        assert_eq!(p("", "plus=a+b").get("plus"), Some("a b"));
    }

    #[test]
    fn invalid_utf8_and_nul_are_refused_naming_the_argument() {
        let reason = |q: &str, b: &str| match Params::parse(q, b.as_bytes()) {
            Err(RegError::Invalid { argument, reason }) => format!("{argument}: {reason}"),
            Err(other) => format!("{other:?}"),
            Ok(_) => "ok".into(),
        };
        assert_eq!(reason("d=caf%E9", ""), "d: d is not valid UTF-8");
        assert_eq!(reason("", "d=a%00b"), "d: d contains a NUL character");
        assert_eq!(reason("", "d=caf%C3%A9&e=%zz%4"), "ok");
        assert_eq!(p("", "d=caf%C3%A9&e=%zz%4&&f").get("e"), Some("%zz%4"));
        assert_eq!(p("", "d=caf%C3%A9").get("d"), Some("café"));
        assert_eq!(p("", "f").get("f"), Some(""));
        assert!(matches!(
            Params::parse("%FF=1", b""),
            Err(RegError::BadRequest(_))
        ));
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        for (q, b) in [("a=1&a=2", ""), ("a=1", "a=1"), ("", "a=1&a=")] {
            assert!(
                matches!(Params::parse(q, b.as_bytes()), Err(RegError::Duplicate { ref argument, .. }) if argument == "a"),
                "{q} / {b}"
            );
        }
    }

    #[test]
    fn missing_and_required() {
        assert!(matches!(
            p("", "").required("x"),
            Err(RegError::Missing("x"))
        ));
        assert_eq!(p("x=", "").required("x").unwrap(), "");
    }

    #[test]
    fn string_lists_are_json_arrays_of_strings() {
        let params = p("", r#"a=["x","y"]&b=[]&c=["x",1]&d="x"&e=[x&f=null"#);
        assert_eq!(
            params.string_list("a").unwrap(),
            Some(vec!["x".into(), "y".into()])
        );
        assert_eq!(params.string_list("b").unwrap(), Some(vec![]));
        assert_eq!(params.string_list("z").unwrap(), None);
        let reason = |r: Result<Option<Vec<String>>, RegError>| match r {
            Err(RegError::Invalid { argument, reason }) => format!("{argument}: {reason}"),
            other => panic!("{:?}", other.map(|_| ()).err()),
        };
        assert_eq!(reason(params.string_list("c")), "c: Not a valid string.");
        assert_eq!(reason(params.string_list("d")), "d: Not a valid list.");
        assert_eq!(reason(params.string_list("e")), "e: not valid JSON");
        assert_eq!(reason(params.string_list("f")), "f: Not a valid list.");
    }

    #[test]
    fn objects_and_integers() {
        let params = p("", r#"o={"k":1}&a=[1]&i=24&n=-1&x=1.5&y=ten"#);
        assert_eq!(
            params.required_object("o").unwrap(),
            json!({"k": 1}).as_object().unwrap().clone()
        );
        assert!(matches!(
            params.required_object("a"),
            Err(RegError::Invalid { .. })
        ));
        assert!(matches!(
            params.required_object("zz"),
            Err(RegError::Missing("zz"))
        ));
        assert_eq!(params.required_integer("i").unwrap(), 24);
        assert_eq!(params.required_integer("n").unwrap(), -1);
        assert!(matches!(
            params.required_integer("x"),
            Err(RegError::Invalid { .. })
        ));
        assert!(matches!(
            params.required_integer("y"),
            Err(RegError::Invalid { .. })
        ));
    }

    #[test]
    fn setting_values_are_text_unless_array_or_object() {
        let params = p(
            "",
            r#"s=hello&n=5&t=true&q="x"&a=["x"]&o= {"k":null}&bad={x"#,
        );
        assert_eq!(params.required_setting_value("s").unwrap(), json!("hello"));
        assert_eq!(params.required_setting_value("n").unwrap(), json!("5"));
        assert_eq!(params.required_setting_value("t").unwrap(), json!("true"));
        assert_eq!(params.required_setting_value("q").unwrap(), json!("\"x\""));
        assert_eq!(params.required_setting_value("a").unwrap(), json!(["x"]));
        assert_eq!(
            params.required_setting_value("o").unwrap(),
            json!({"k": null})
        );
        assert!(matches!(
            params.required_setting_value("bad"),
            Err(RegError::Invalid { .. })
        ));
    }
}

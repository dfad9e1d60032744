//! Identifiers and secrets: lowercase alphanumerics of fixed lengths. They are drawn (I/O: the
//! OS CSPRNG) by `auth::random`; this module only knows their shape.

/// The characters of ids, secrets and tokens.
pub const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub const APP_ID_LEN: usize = 26;
pub const CLIENT_ID_LEN: usize = 32;
pub const SECRET_LEN: usize = 32;
pub const REQUEST_ID_LEN: usize = 16;

/// What every string newtype of the model has: borrowing and giving up the text, `Display`.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use string_newtype;

/// Why a text is not an id: it lacks the shape of one (see [`AppId`], [`ClientId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("not an application id ({APP_ID_LEN} characters of a-z and 0-9)")]
    App,
    #[error("not a client id ({CLIENT_ID_LEN} characters of a-z and 0-9)")]
    Client,
}

/// Defines an id of the model: exactly `$len` characters of [`ALPHABET`] (`[a-z0-9]`), the
/// shape the vendor gives its ids and `auth::random` draws ours in. Only `parse` checks a
/// text; `from_trusted` is for values that already had their check.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr, $error:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The one check of the documented rule: `$len` characters of `[a-z0-9]`.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if is_token(s, $len) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err($error)
                }
            }

            /// Without a check, for an id that already had one: read back from the database
            /// (only parsed or drawn ids are ever stored), drawn by `auth::random`, or written
            /// by a test. Never for text a caller sent: that goes through `parse`
            /// (or [`Named::parse`]).
            pub fn from_trusted(value: impl Into<String>) -> Self {
                Self(value.into())
            }
        }

        string_newtype!($name);

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        /// Checked like `parse`: a stored document cannot smuggle in an id of another shape.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }


        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl Id for $name {
            fn parse_id(s: &str) -> Option<Self> {
                Self::parse(s).ok()
            }

            fn id_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// What [`Named`] needs of a type whose values name a thing of the model (the ids, an entity
/// type's [`TypeName`](super::entity_type::TypeName)): its one check, and its text.
pub trait Id: Sized {
    /// The value, when `s` has the documented shape.
    fn parse_id(s: &str) -> Option<Self>;
    fn id_str(&self) -> &str;
}

id_type!(
    /// An application id: [`APP_ID_LEN`] (26) characters of `[a-z0-9]`, as the vendor's ids
    /// and ours. A caller's text becomes one through `parse` (or [`Named::parse`] where the
    /// text names an application that must exist).
    AppId,
    APP_ID_LEN,
    IdError::App
);

id_type!(
    /// A client id: [`CLIENT_ID_LEN`] (32) characters of `[a-z0-9]`, as the vendor's ids and
    /// ours. A caller's text becomes one through `parse` or [`Named::parse`].
    ClientId,
    CLIENT_ID_LEN,
    IdError::Client
);

/// An id as a caller named it (a path segment, a parameter, a flag), parsed once where it
/// enters: `Id` when the text has the shape of one, else `Malformed` with the text as sent.
///
/// Why the edge cannot simply refuse a malformed one: such a text names no row, so it must
/// answer exactly as an unknown id does, and the contract puts that answer late (after the
/// credentials, the body's validation and the `owner` check; see docs/config-api.md, "Order of
/// checks"). So the service takes the verdict and answers "not found" at that point; its
/// lookups never send a `Malformed` to the database (`Named::id` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Named<T> {
    Id(T),
    Malformed(String),
}

impl<T: Id> Named<T> {
    pub fn parse(s: &str) -> Self {
        match T::parse_id(s) {
            Some(id) => Named::Id(id),
            None => Named::Malformed(s.to_owned()),
        }
    }

    /// The id, when the text has the shape of one (whether it exists is the service's
    /// question).
    pub fn id(&self) -> Option<&T> {
        match self {
            Named::Id(id) => Some(id),
            Named::Malformed(_) => None,
        }
    }

    /// The text as the caller sent it.
    pub fn as_str(&self) -> &str {
        match self {
            Named::Id(id) => id.id_str(),
            Named::Malformed(text) => text,
        }
    }
}

impl<T> From<T> for Named<T> {
    fn from(id: T) -> Self {
        Named::Id(id)
    }
}

impl<T: Id> AsRef<str> for Named<T> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<T: Id> PartialEq<str> for Named<T> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// As the text the caller sent (the CLI echoes `--app`).
impl<T: Id> serde::Serialize for Named<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// For `clap`: any text names one (a malformed one is the service's "not found").
impl<T: Id> std::str::FromStr for Named<T> {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

/// For `web::Path` and bodies: any string names one, parsed as by `parse`.
impl<'de, T: Id> serde::Deserialize<'de> for Named<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

impl<T: Id> std::fmt::Display for Named<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True when `s` has the shape of an id of length `len`. Used to refuse junk before any query.
/// A range test per byte, not `ALPHABET.contains`: that is a `memchr` call per byte, and ids
/// are checked several times per request (about 9,000 instructions of a warm client GET's
/// 116,000: bench/README.md, "Instruction counts").
pub fn is_token(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "abcdefghijklmnopqrstuvwxyz";
    const CLIENT: &str = "abcdefghijklmnopqrstuvwxyz012345";

    #[test]
    fn is_token_accepts_exactly_the_alphabet() {
        for b in 0u8..=255 {
            let s = (b as char).to_string();
            assert_eq!(
                is_token(&s, s.len()),
                s.len() == 1 && ALPHABET.contains(&b),
                "{b}"
            );
        }
    }

    #[test]
    fn is_token_refuses_wrong_shapes() {
        assert!(!is_token("ABCdefghijklmnopqrstuvwxyz012345", 32));
        assert!(!is_token("abc", 32));
        assert!(!is_token("abcdefghijklmnopqrstuvwxyz01234-", 32));
        assert!(is_token("abcdefghijklmnopqrstuvwxyz012345", 32));
    }

    #[test]
    fn ids_of_the_right_length_and_alphabet_parse() {
        assert_eq!(AppId::parse(APP).unwrap().as_str(), APP);
        assert_eq!(
            AppId::parse(&"0".repeat(26)).unwrap().as_str(),
            "0".repeat(26)
        );
        assert_eq!(ClientId::parse(CLIENT).unwrap().as_str(), CLIENT);
        assert_eq!(
            ClientId::parse(&"9".repeat(32)).unwrap().as_str(),
            "9".repeat(32)
        );
        assert_eq!(APP.parse::<AppId>(), AppId::parse(APP));
    }

    #[test]
    fn other_shapes_are_refused() {
        let too_long_app = format!("{APP}a");
        let app_cases = [
            "",
            &APP[..25],
            &too_long_app,
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "abcdefghijklmnopqrstuvwxy-",
            "abcdefghijklmnopqrstuvwxy ",
            "abcdefghijklmnopqrstuvwxy\0",
            "abcdefghijklmnopqrstuvwxyé",
            CLIENT,
        ];
        for case in app_cases {
            assert_eq!(AppId::parse(case), Err(IdError::App), "{case:?}");
        }
        let client_cases = ["", &CLIENT[..31], APP, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"];
        for case in client_cases {
            assert_eq!(ClientId::parse(case), Err(IdError::Client), "{case:?}");
        }
        // Multi-byte characters: 26 bytes but not 26 characters of the alphabet.
        assert!(AppId::parse(&"é".repeat(13)).is_err());
    }

    #[test]
    fn the_errors_say_the_rule() {
        assert_eq!(
            IdError::App.to_string(),
            "not an application id (26 characters of a-z and 0-9)"
        );
        assert_eq!(
            IdError::Client.to_string(),
            "not a client id (32 characters of a-z and 0-9)"
        );
    }

    #[test]
    fn display_and_serde_round_trip() {
        let app = AppId::parse(APP).unwrap();
        assert_eq!(app.to_string(), APP);
        let json = serde_json::to_string(&app).unwrap();
        assert_eq!(json, format!("\"{APP}\""));
        assert_eq!(serde_json::from_str::<AppId>(&json).unwrap(), app);
        let client = ClientId::parse(CLIENT).unwrap();
        let json = serde_json::to_string(&client).unwrap();
        assert_eq!(serde_json::from_str::<ClientId>(&json).unwrap(), client);
        assert_eq!(client.clone().into_string(), CLIENT);
        assert_eq!(AsRef::<str>::as_ref(&client), CLIENT);
    }

    #[test]
    fn deserializing_checks_the_shape() {
        let err = serde_json::from_str::<AppId>("\"short\"").unwrap_err();
        assert!(err.to_string().contains("not an application id"), "{err}");
        assert!(serde_json::from_str::<ClientId>(&format!("\"{APP}\"")).is_err());
        assert!(serde_json::from_str::<AppId>("26").is_err());
    }

    #[test]
    fn named_keeps_the_verdict_and_the_text() {
        let good: Named<AppId> = Named::parse(APP);
        assert_eq!(good, Named::Id(AppId::parse(APP).unwrap()));
        assert_eq!(good.id().map(AppId::as_str), Some(APP));
        assert_eq!(good.as_str(), APP);

        let bad: Named<AppId> = Named::parse("not-an-id");
        assert_eq!(bad, Named::Malformed("not-an-id".to_owned()));
        assert_eq!(bad.id(), None);
        assert_eq!(bad.as_str(), "not-an-id");
        assert_eq!(bad.to_string(), "not-an-id");
        assert!(bad == *"not-an-id");

        // A client id is not an application id, and the other way round.
        assert_eq!(Named::<AppId>::parse(CLIENT).id(), None);
        assert_eq!(Named::<ClientId>::parse(APP).id(), None);
        assert!(Named::<ClientId>::parse(CLIENT).id().is_some());
    }

    #[test]
    fn named_reads_any_text_from_paths_flags_and_bodies() {
        let from_flag: Named<ClientId> = "x".parse().unwrap();
        assert_eq!(from_flag, Named::Malformed("x".to_owned()));
        let from_json: Named<AppId> = serde_json::from_str(&format!("\"{APP}\"")).unwrap();
        assert!(from_json.id().is_some());
        let junk: Named<AppId> = serde_json::from_str("\"../etc\"").unwrap();
        assert_eq!(junk.as_str(), "../etc");
        assert_eq!(serde_json::to_string(&junk).unwrap(), "\"../etc\"");
        assert_eq!(
            serde_json::to_string(&from_json).unwrap(),
            format!("\"{APP}\"")
        );
    }
}

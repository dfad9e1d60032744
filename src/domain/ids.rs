//! Identifiers and secrets: lowercase alphanumerics of fixed lengths. They are drawn (I/O: the
//! OS CSPRNG) by `auth::random`; this module only knows their shape.

/// The characters of ids, secrets and tokens.
pub const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub const APP_ID_LEN: usize = 26;
pub const CLIENT_ID_LEN: usize = 32;
pub const SECRET_LEN: usize = 32;
pub const REQUEST_ID_LEN: usize = 16;

/// Defines a string newtype for a name a caller gives to a thing of the model. It is built once,
/// where the value enters (an HTTP extractor or adapter, the console, the command line), and
/// the service takes only the typed value, so two adjacent ids cannot be swapped and no
/// unparsed wire string reaches it. It does not `Deref` to `&str`: the store's `&str` is
/// taken explicitly (`as_str()`), so an id cannot silently pass for any other text.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

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

        /// For `clap` and `web::Path`: any text names one (whether it exists is the service's
        /// question).
        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::new(s))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use name_type;

name_type!(
    /// An application id as the caller named it. Its shape is not checked here: an id that
    /// names no application is "not found" (or "unknown application") where the contract
    /// says, after the checks the contract puts first.
    AppId
);

name_type!(
    /// A client id as the caller named it (path, `for_client_id`, a flag); like `AppId`, one
    /// that names no client is `ClientNotFound` at the point the contract fixes.
    ClientId
);

/// True when `s` has the shape of an id of length `len`. Used to refuse junk before any query.
pub fn is_token(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_token_refuses_wrong_shapes() {
        assert!(!is_token("ABCdefghijklmnopqrstuvwxyz012345", 32));
        assert!(!is_token("abc", 32));
        assert!(!is_token("abcdefghijklmnopqrstuvwxyz01234-", 32));
        assert!(is_token("abcdefghijklmnopqrstuvwxyz012345", 32));
    }
}

//! Identifiers and secrets: lowercase alphanumerics drawn from the OS CSPRNG.

use rand::{rngs::OsRng, Rng, TryRngCore};

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub const APP_ID_LEN: usize = 26;
pub const CLIENT_ID_LEN: usize = 32;
pub const SECRET_LEN: usize = 32;
pub const REQUEST_ID_LEN: usize = 16;

/// `len` characters of `[a-z0-9]`, uniformly distributed (rejection sampling, no modulo bias).
pub fn random_token(len: usize) -> String {
    let mut rng = OsRng.unwrap_err();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn new_app_id() -> String {
    random_token(APP_ID_LEN)
}

pub fn new_client_id() -> String {
    random_token(CLIENT_ID_LEN)
}

pub fn new_secret() -> String {
    random_token(SECRET_LEN)
}

/// Request ids are not secrets: drawn from the thread-local generator (seeded from the OS),
/// which saves 16 `getrandom` system calls per request (measured under load, bench/README.md).
pub fn new_request_id() -> String {
    let mut rng = rand::rng();
    (0..REQUEST_ID_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// True when `s` has the shape of an id of length `len`. Used to refuse junk before any query.
pub fn is_token(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_requested_shape() {
        for len in [APP_ID_LEN, CLIENT_ID_LEN, REQUEST_ID_LEN] {
            let t = random_token(len);
            assert!(is_token(&t, len), "{t}");
        }
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(new_client_id(), new_client_id());
        assert_ne!(new_secret(), new_secret());
    }

    #[test]
    fn every_character_of_the_alphabet_appears() {
        let joined: String = (0..200).map(|_| random_token(32)).collect();
        for c in ALPHABET {
            assert!(joined.as_bytes().contains(c), "{}", *c as char);
        }
    }

    #[test]
    fn is_token_refuses_wrong_shapes() {
        assert!(!is_token("ABCdefghijklmnopqrstuvwxyz012345", 32));
        assert!(!is_token("abc", 32));
        assert!(!is_token("abcdefghijklmnopqrstuvwxyz01234-", 32));
        assert!(is_token("abcdefghijklmnopqrstuvwxyz012345", 32));
    }
}

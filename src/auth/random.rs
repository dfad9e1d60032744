//! Random ids, secrets and tokens (lowercase alphanumerics, `domain::ids::ALPHABET`), drawn
//! from the OS CSPRNG. Kept out of `domain/` (pure: no I/O, no randomness).

use rand::{rngs::OsRng, Rng, TryRngCore};

use crate::domain::ids::{ALPHABET, APP_ID_LEN, CLIENT_ID_LEN, REQUEST_ID_LEN, SECRET_LEN};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::is_token;

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
}

//! Sealed secrets: AES-256-GCM under a server key, for applications whose secrets must be
//! recoverable (signed requests need the secret itself to check an HMAC; `show_secrets` shows
//! it). Argon2id hashes stay the proof for Basic and parameter authentication; the sealed copy
//! is an addition, never a replacement.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag`, stored next to the id of the key
//! that sealed it. The associated data binds it to its application and client, so a sealed
//! value copied onto another client's row does not open. A key ring holds the current key
//! (which seals) and previous keys (which only open), so keys can be rotated: configure the new
//! key as current and the old one as previous, run `latchkey keys rotate` to re-seal, then drop
//! the old key.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
/// Domain separation of the AAD and the key ids: a format change gets a new tag.
const AAD_TAG: &[u8] = b"latchkey-sealed-secret-v1";
const KEY_ID_TAG: &[u8] = b"latchkey-sealing-key-id-v1";
const SERVER_KEY_TAG: &[u8] = b"latchkey-sealed-server-key-v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealingError {
    #[error("a sealing key must be the base64 encoding of exactly 32 bytes")]
    BadKey,
    #[error("the sealing key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("no key of this server has the id {key_id}")]
    UnknownKey { key_id: String },
    #[error("the sealed value does not open (damaged, or sealed for another client)")]
    Damaged,
}

/// One AES-256-GCM key and its id (a digest of the key, so the id names the key without
/// revealing it, and two servers given the same key agree on its id).
struct SealingKey {
    id: String,
    cipher: Aes256Gcm,
}

impl SealingKey {
    fn new(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_TAG)
            .chain_update(bytes)
            .finalize();
        Self {
            id: hex::encode(&digest[..8]),
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }
}

/// A secret sealed for one client: the id of the key that sealed it and the sealed bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The current key and the previous ones still accepted for opening.
pub struct KeyRing {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Decodes one base64 key (standard alphabet, padding optional, blanks around ignored).
pub fn parse_key(text: &str) -> Result<Zeroizing<[u8; 32]>, SealingError> {
    let text = text.trim();
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| SealingError::BadKey)?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if decoded.len() != 32 {
        return Err(SealingError::BadKey);
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

/// A fresh random key, base64-encoded (what `latchkey keys generate` prints).
pub fn generate_key() -> String {
    let key = Zeroizing::new(rand::random::<[u8; 32]>());
    base64::engine::general_purpose::STANDARD.encode(*key)
}

fn aad(app_id: &str, client_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_TAG.len() + app_id.len() + client_id.len() + 2);
    aad.extend_from_slice(AAD_TAG);
    aad.push(0);
    aad.extend_from_slice(app_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(client_id.as_bytes());
    aad
}

/// The associated data of a server key: its own tag, so a sealed client secret never opens as
/// a server key or the reverse.
fn server_aad(purpose: &str) -> Vec<u8> {
    let mut aad = SERVER_KEY_TAG.to_vec();
    aad.push(0);
    aad.extend_from_slice(purpose.as_bytes());
    aad
}

/// What a sealed value is bound to (its associated data): it opens only under the same binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding<'a> {
    /// A value kept for one name of one application (or of another scope that is not an
    /// application id): [`KeyRing::seal`] and [`KeyRing::open`].
    Client { app_id: &'a str, client_id: &'a str },
    /// A private key of the server for one purpose: [`KeyRing::seal_server_key`].
    ServerKey { purpose: &'a str },
}

impl Binding<'_> {
    fn aad(self) -> Vec<u8> {
        match self {
            Binding::Client { app_id, client_id } => aad(app_id, client_id),
            Binding::ServerKey { purpose } => server_aad(purpose),
        }
    }
}

impl KeyRing {
    /// `current` seals; `previous` only open (during a rotation).
    pub fn new(current: &[u8; 32], previous: &[Zeroizing<[u8; 32]>]) -> Self {
        let current = SealingKey::new(current);
        let previous = previous
            .iter()
            .map(|k| SealingKey::new(k))
            .filter(|k| k.id != current.id)
            .collect();
        Self { current, previous }
    }

    /// From base64 texts: the current key and the previous ones.
    pub fn from_base64(current: &str, previous: &[String]) -> Result<Self, SealingError> {
        let current = parse_key(current)?;
        let previous = previous
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| parse_key(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(&current, &previous))
    }

    /// From a key file: one base64 key per line, the first is current, the others previous.
    /// Blank lines and lines starting with `#` are ignored.
    pub fn from_file(path: &Path) -> Result<Self, SealingError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| SealingError::KeyFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
            );
        let keys: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        let Some((current, previous)) = keys.split_first() else {
            return Err(SealingError::KeyFile {
                path: path.display().to_string(),
                reason: "it holds no key".into(),
            });
        };
        Self::from_base64(current, previous).map_err(|e| SealingError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    pub fn knows(&self, key_id: &str) -> bool {
        self.key(key_id).is_some()
    }

    fn key(&self, key_id: &str) -> Option<&SealingKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
    }

    /// Seals `secret` for client `client_id` of `app_id` under the current key.
    pub fn seal(
        &self,
        app_id: &str,
        client_id: &str,
        secret: &str,
    ) -> Result<Sealed, SealingError> {
        self.seal_with(secret.as_bytes(), &aad(app_id, client_id))
    }

    /// Seals a private key of the server (`purpose` names it, e.g. the checkpoint key's id):
    /// bound to that purpose, so it opens for nothing else.
    pub fn seal_server_key(&self, purpose: &str, key: &[u8]) -> Result<Sealed, SealingError> {
        self.seal_with(key, &server_aad(purpose))
    }

    /// Opens what [`KeyRing::seal_server_key`] sealed for `purpose`.
    pub fn open_server_key(
        &self,
        purpose: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, SealingError> {
        self.open_with(sealed, &server_aad(purpose))
    }

    fn seal_with(&self, plain: &[u8], aad: &[u8]) -> Result<Sealed, SealingError> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), Payload { msg: plain, aad })
            .map_err(|_| SealingError::Damaged)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: self.current.id.clone(),
            blob,
        })
    }

    /// Opens a sealed secret of client `client_id` of `app_id`.
    pub fn open(
        &self,
        app_id: &str,
        client_id: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<String>, SealingError> {
        let plain = self.open_with(sealed, &aad(app_id, client_id))?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| SealingError::Damaged)
    }

    fn open_with(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealingError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| SealingError::UnknownKey {
                key_id: sealed.key_id.clone(),
            })?;
        if sealed.blob.len() < NONCE_LEN {
            return Err(SealingError::Damaged);
        }
        let (nonce, ciphertext) = sealed.blob.split_at(NONCE_LEN);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealingError::Damaged)
    }

    /// The same value sealed again under the current key (`latchkey keys rotate`), without the
    /// plain value leaving the ring.
    pub fn reseal(&self, binding: Binding<'_>, sealed: &Sealed) -> Result<Sealed, SealingError> {
        let aad = binding.aad();
        let plain = self.open_with(sealed, &aad)?;
        self.seal_with(&plain, &aad)
    }

    /// Work of the same cost as opening one sealed secret, with nothing to open: keeps a check
    /// for an unknown client as slow as one for a known client.
    pub fn open_nothing(&self) {
        let nonce = [0u8; NONCE_LEN];
        let _ = self.current.cipher.decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &[0u8; 48],
                aad: AAD_TAG,
            },
        );
    }
}

/// The key file of the embedded-database mode: read it, or create it (one fresh key, mode
/// 0600, created exclusively so two processes starting at once cannot both write one).
pub fn ensure_key_file(path: &Path) -> Result<(), SealingError> {
    let err = |reason: String| SealingError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            let key = Zeroizing::new(generate_key());
            file.write_all(format!("{}\n", *key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| err(e.to_string()))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys_open_only_for_their_purpose() {
        let ring = KeyRing::new(&[1u8; 32], &[]);
        let sealed = ring.seal_server_key("ab12cd34", b"private").unwrap();
        assert_eq!(
            ring.open_server_key("ab12cd34", &sealed)
                .unwrap()
                .as_slice(),
            b"private"
        );
        assert!(ring.open_server_key("ab12cd35", &sealed).is_err());
        assert!(ring.open("", "ab12cd34", &sealed).is_err());
        let secret = ring.seal("app", "client", "s").unwrap();
        assert!(ring.open_server_key("client", &secret).is_err());
    }

    fn ring(seed: u8) -> KeyRing {
        KeyRing::new(&[seed; 32], &[])
    }

    #[test]
    fn seals_and_opens() {
        let r = ring(1);
        let sealed = r.seal("app", "client", "s3cret").unwrap();
        assert_eq!(sealed.key_id, r.current_id());
        assert_eq!(sealed.blob.len(), 12 + 6 + 16);
        assert!(!sealed.blob.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(r.open("app", "client", &sealed).unwrap().as_str(), "s3cret");
        // A fresh nonce each time.
        assert_ne!(r.seal("app", "client", "s3cret").unwrap().blob, sealed.blob);
    }

    #[test]
    fn bound_to_its_client_and_key() {
        let r = ring(1);
        let sealed = r.seal("app", "client", "s3cret").unwrap();
        assert_eq!(
            r.open("app", "other", &sealed).unwrap_err(),
            SealingError::Damaged
        );
        assert_eq!(
            r.open("other", "client", &sealed).unwrap_err(),
            SealingError::Damaged
        );
        let mut tampered = sealed.clone();
        tampered.blob[20] ^= 1;
        assert_eq!(
            r.open("app", "client", &tampered).unwrap_err(),
            SealingError::Damaged
        );
        let short = Sealed {
            key_id: sealed.key_id.clone(),
            blob: vec![1, 2, 3],
        };
        assert_eq!(
            r.open("app", "client", &short).unwrap_err(),
            SealingError::Damaged
        );
        assert!(matches!(
            ring(2).open("app", "client", &sealed).unwrap_err(),
            SealingError::UnknownKey { .. }
        ));
    }

    #[test]
    fn previous_keys_open_but_do_not_seal() {
        let old = ring(1);
        let sealed = old.seal("a", "c", "x").unwrap();
        let rotated = KeyRing::new(&[2; 32], &[Zeroizing::new([1; 32])]);
        assert_ne!(rotated.current_id(), old.current_id());
        assert!(rotated.knows(old.current_id()));
        assert_eq!(rotated.open("a", "c", &sealed).unwrap().as_str(), "x");
        assert_eq!(
            rotated.seal("a", "c", "x").unwrap().key_id,
            rotated.current_id()
        );
    }

    #[test]
    fn reseal_keeps_the_value_and_its_binding() {
        let old = ring(1);
        let secret = old.seal("a", "c", "x").unwrap();
        let key = old.seal_server_key("k1", b"private").unwrap();
        let rotated = KeyRing::new(&[2; 32], &[Zeroizing::new([1; 32])]);
        let client = Binding::Client {
            app_id: "a",
            client_id: "c",
        };
        let resealed = rotated.reseal(client, &secret).unwrap();
        assert_eq!(resealed.key_id, rotated.current_id());
        let new_only = ring(2);
        assert_eq!(new_only.open("a", "c", &resealed).unwrap().as_str(), "x");
        let resealed = rotated
            .reseal(Binding::ServerKey { purpose: "k1" }, &key)
            .unwrap();
        assert_eq!(
            new_only
                .open_server_key("k1", &resealed)
                .unwrap()
                .as_slice(),
            b"private"
        );
        // The wrong binding does not open, so nothing is re-sealed under it.
        assert_eq!(
            rotated
                .reseal(Binding::ServerKey { purpose: "c" }, &secret)
                .unwrap_err(),
            SealingError::Damaged
        );
        assert!(matches!(
            ring(3).reseal(client, &secret).unwrap_err(),
            SealingError::UnknownKey { .. }
        ));
    }

    #[test]
    fn key_ids_are_stable_digests() {
        assert_eq!(ring(7).current_id(), ring(7).current_id());
        assert_ne!(ring(7).current_id(), ring(8).current_id());
        assert_eq!(ring(7).current_id().len(), 16);
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        let k = generate_key();
        assert_eq!(parse_key(&k).unwrap().len(), 32);
        assert_eq!(parse_key(&format!(" {k}\n")).unwrap().len(), 32);
        assert_eq!(parse_key("c2hvcnQ=").unwrap_err(), SealingError::BadKey);
        assert_eq!(parse_key("not base64!").unwrap_err(), SealingError::BadKey);
        assert!(KeyRing::from_base64(&k, &[generate_key(), String::new()]).is_ok());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("lk-sealing-{}", uuid::Uuid::new_v4()));
        let path = dir.join("sealing.key");
        ensure_key_file(&path).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        ensure_key_file(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first, "kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let r = KeyRing::from_file(&path).unwrap();
        let sealed = r.seal("a", "c", "x").unwrap();
        // A second line is a previous key.
        std::fs::write(&path, format!("# rotated\n{}\n{first}", generate_key())).unwrap();
        let rotated = KeyRing::from_file(&path).unwrap();
        assert_ne!(rotated.current_id(), r.current_id());
        assert_eq!(rotated.open("a", "c", &sealed).unwrap().as_str(), "x");
        std::fs::write(&path, "\n# nothing\n").unwrap();
        assert!(matches!(
            KeyRing::from_file(&path).unwrap_err(),
            SealingError::KeyFile { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Signed checkpoints: the C2SP `tlog-checkpoint` body wrapped as a C2SP `signed-note`, signed
//! with Ed25519 (`ed25519-dalek`).
//!
//! A checkpoint body is three lines, each ending with a newline: the origin
//! (`<host>/audit/<appId>`), the tree size in decimal, and the RFC 6962 root hash in standard
//! base64. The note is the body, an empty line, then one signature line per signer:
//! `— <key name> <base64(key hash (4 bytes) || Ed25519 signature (64 bytes))>`. The signature
//! covers the body exactly (with its final newline). The key hash is the first 4 bytes of
//! `SHA-256(key name || "\n" || 0x01 || public key)`, and a verifier key is written
//! `<key name>+<key hash in hex>+<base64(0x01 || public key)>`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The algorithm byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// The start of a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a signed note: {0}")]
    Malformed(&'static str),
    #[error("not a checkpoint: {0}")]
    NotACheckpoint(&'static str),
    #[error("no signature by a known key")]
    UnknownKey,
    #[error("the signature of key {0} does not verify")]
    BadSignature(String),
    #[error("not a verifier key: {0}")]
    BadKey(&'static str),
}

/// The body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The body text, as signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a body (extension lines after the root are allowed and ignored).
    pub fn parse(body: &str) -> Result<Self, NoteError> {
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::NotACheckpoint("the origin line is empty"));
        }
        let size = lines
            .next()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or(NoteError::NotACheckpoint(
                "the second line is not a tree size",
            ))?;
        let root = lines
            .next()
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| Hash::try_from(b).ok())
            .ok_or(NoteError::NotACheckpoint(
                "the third line is not a base64 SHA-256 hash",
            ))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// `true` for a valid key name: not empty, no white space, no `+`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The signed-note key hash of an Ed25519 key.
pub fn key_hash(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ED25519])
        .chain_update(public.as_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A key that verifies notes: its name and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub public: VerifyingKey,
}

impl VerifierKey {
    pub fn hash(&self) -> [u8; 4] {
        key_hash(&self.name, &self.public)
    }

    /// The key hash in hex: the id under which the server stores the key.
    pub fn key_id(&self) -> String {
        hex::encode(self.hash())
    }

    /// `<name>+<key hash hex>+<base64(0x01 || public key)>`.
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ED25519);
        raw.extend_from_slice(self.public.as_bytes());
        format!("{}+{}+{}", self.name, self.key_id(), B64.encode(raw))
    }

    /// Parses the form [`VerifierKey::encode`] writes (blanks around ignored).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        // The name holds no `+`; the base64 key may.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected <name>+<hash>+<key>"));
        };
        if !valid_key_name(name) {
            return Err(NoteError::BadKey("the name is empty or has a space or +"));
        }
        let raw = B64
            .decode(key)
            .map_err(|_| NoteError::BadKey("the key is not base64"))?;
        let Some((&ED25519, public)) = raw.split_first() else {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        };
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 key has 32 bytes"))?;
        let public = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::BadKey("not a valid Ed25519 point"))?;
        let parsed = Self {
            name: name.to_owned(),
            public,
        };
        if parsed.key_id() != hash {
            return Err(NoteError::BadKey("the key hash does not match the key"));
        }
        Ok(parsed)
    }
}

/// Signs `body` (which must end with a newline) as a note of one signature.
pub fn sign(body: &str, name: &str, key: &SigningKey) -> String {
    let hash = key_hash(name, &key.verifying_key());
    let signature = key.sign(body.as_bytes());
    let mut blob = Vec::with_capacity(68);
    blob.extend_from_slice(&hash);
    blob.extend_from_slice(&signature.to_bytes());
    format!("{body}\n{SIGNATURE_PREFIX}{name} {}\n", B64.encode(blob))
}

/// Opens a signed note: the body, verified by the first of `keys` that signed it, and that key.
/// Signatures by other keys are ignored; a signature by one of `keys` that does not verify is
/// an error.
pub fn open<'k>(
    note: &str,
    keys: &'k [VerifierKey],
) -> Result<(String, &'k VerifierKey), NoteError> {
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("it does not end with a newline"));
    }
    if note
        .chars()
        .any(|c| c.is_control() && c != '\n' || c == '\r')
    {
        return Err(NoteError::Malformed("it holds a control character"));
    }
    let Some(split) = note.rfind("\n\n") else {
        return Err(NoteError::Malformed("no empty line before the signatures"));
    };
    let (body, signatures) = (&note[..=split], &note[split + 2..]);
    let mut found = None;
    for line in signatures.lines() {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::Malformed(
                "a signature line must start with \u{2014}",
            ))?;
        let (name, sig) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line is <name> <signature>",
        ))?;
        let blob = B64
            .decode(sig)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        if blob.len() < 4 {
            return Err(NoteError::Malformed("a signature is too short"));
        }
        let (hash, signature) = blob.split_at(4);
        let Some(key) = keys.iter().find(|k| k.name == name && k.hash() == hash) else {
            continue;
        };
        let signature =
            Signature::from_slice(signature).map_err(|_| NoteError::BadSignature(key.key_id()))?;
        key.public
            .verify(body.as_bytes(), &signature)
            .map_err(|_| NoteError::BadSignature(key.key_id()))?;
        found.get_or_insert(key);
    }
    match found {
        Some(key) => Ok((body.to_owned(), key)),
        None if signatures.is_empty() => Err(NoteError::Malformed("it has no signature")),
        None => Err(NoteError::UnknownKey),
    }
}

/// Opens a signed checkpoint with `keys`.
pub fn open_checkpoint<'k>(
    note: &str,
    keys: &'k [VerifierKey],
) -> Result<(Checkpoint, &'k VerifierKey), NoteError> {
    let (body, key) = open(note, keys)?;
    Ok((Checkpoint::parse(&body)?, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn verifier(name: &str, k: &SigningKey) -> VerifierKey {
        VerifierKey {
            name: name.into(),
            public: k.verifying_key(),
        }
    }

    /// The C2SP signed-note example key (PeterNeumann), from its specification:
    /// verifier key and the key hash it names.
    #[test]
    fn verifier_keys_round_trip_and_check_their_hash() {
        let text = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let parsed = VerifierKey::parse(text).unwrap();
        assert_eq!(parsed.name, "PeterNeumann");
        assert_eq!(parsed.key_id(), "c74f20a3");
        assert_eq!(parsed.encode(), text);
        // A key whose base64 holds `+`.
        let plus = VerifierKey {
            name: "n".into(),
            public: key(1).verifying_key(),
        };
        let with_plus = (0u8..=255)
            .map(|seed| VerifierKey {
                public: key(seed).verifying_key(),
                ..plus.clone()
            })
            .find(|k| k.encode().matches('+').count() > 2)
            .unwrap();
        assert_eq!(VerifierKey::parse(&with_plus.encode()).unwrap(), with_plus);
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+AhpcmQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+AR",
            "",
        ] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad}");
        }
    }

    /// The signed-note specification's example note, signed by PeterNeumann.
    #[test]
    fn the_specification_example_note_verifies() {
        let key = VerifierKey::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .unwrap();
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let keys = [key];
        let (body, signer) = open(note, &keys).unwrap();
        assert_eq!(signer.key_id(), "c74f20a3");
        assert!(body.starts_with("If you think"));
        let altered = note.replace("answer", "Answer");
        assert_eq!(
            open(&altered, &keys).unwrap_err(),
            NoteError::BadSignature("c74f20a3".into())
        );
    }

    #[test]
    fn checkpoints_sign_and_open() {
        let k = key(7);
        let cp = Checkpoint {
            origin: "example.com/audit/app1".into(),
            size: 12,
            root: [3u8; 32],
        };
        let note = sign(&cp.body(), "example.com/audit", &k);
        assert_eq!(
            note.lines().take(4).collect::<Vec<_>>(),
            [
                "example.com/audit/app1",
                "12",
                "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
                ""
            ]
        );
        let keys = [verifier("example.com/audit", &k)];
        let (opened, signer) = open_checkpoint(&note, &keys).unwrap();
        assert_eq!(opened, cp);
        assert_eq!(signer, &keys[0]);

        // Another key of the same name: unknown, not accepted.
        let other = [verifier("example.com/audit", &key(8))];
        assert_eq!(
            open_checkpoint(&note, &other).unwrap_err(),
            NoteError::UnknownKey
        );
        // A forged size.
        let forged = note.replacen("\n12\n", "\n13\n", 1);
        assert!(matches!(
            open_checkpoint(&forged, &keys),
            Err(NoteError::BadSignature(_))
        ));
        // Not a note.
        for bad in ["", "a\n", "a\n\n", "a\n\nno dash\n", "a\n\n\u{2014} x !!\n"] {
            assert!(open(bad, &keys).is_err(), "{bad:?}");
        }
        // A signed body that is not a checkpoint.
        let not_cp = sign("hello\nworld\n", "example.com/audit", &k);
        assert!(matches!(
            open_checkpoint(&not_cp, &keys),
            Err(NoteError::NotACheckpoint(_))
        ));
    }

    #[test]
    fn checkpoint_bodies_parse_strictly() {
        assert!(Checkpoint::parse("o\n+5\nAAAA\n").is_err());
        assert!(Checkpoint::parse("\n5\n").is_err());
        assert!(Checkpoint::parse("o\n5\nAAAA\n").is_err());
        let body = format!("o\n5\n{}\next\n", B64.encode([9u8; 32]));
        assert_eq!(Checkpoint::parse(&body).unwrap().size, 5);
    }
}

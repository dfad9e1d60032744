//! Audit events and the per-application hash chain.
//!
//! # The hash recipe (stable: an auditor recomputes it with a short script)
//!
//! `hash = SHA-256(prev_hash || canonical(event))`, where
//! * `prev_hash` is the 32 raw bytes of the previous event's hash in the same application, or 32
//!   zero bytes ([`GENESIS_HASH`]) for the event with `seq` 1;
//! * `canonical(event)` is the UTF-8 text of the JSON object with exactly the members `action`,
//!   `actor`, `actor_ip`, `app_id`, `changes`, `event_id`, `features_after`, `features_before`,
//!   `occurred_at`, `request_id`, `seq`, `target_client_id` (absent values are `null`),
//!   serialised as RFC 8785 (JSON Canonicalization Scheme): members sorted by the UTF-16 code
//!   units of their names, no insignificant whitespace, strings escaping only `"`, `\` and
//!   control characters (`\b \t \n \f \r`, others as `\u00xx`), other characters as
//!   UTF-8, and numbers as ECMAScript prints them (`1.0` is `1`, `1e-7` is `1e-7`, `1e21` is
//!   `1e+21`), with one deliberate difference: integers are written with all their digits even
//!   beyond 2^53, where RFC 8785 would round them to a double;
//! * `occurred_at` is RFC 3339 UTC with exactly six fractional digits and a `Z`;
//!   `event_id` is the lowercase hyphenated UUID; `actor_ip` is the address as
//!   [`std::net::IpAddr`] prints it.
//!
//! Every event an export or the query API returns is this object plus `prev_hash` and `hash`
//! (lowercase hex), so a verifier removes those two members, canonicalises the rest and chains.
//! `docs/audit_verify.py` is such a verifier (standard library only).

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Who made a change: a client of the application, or the platform operator.
pub const OPERATOR_ACTOR: &str = "operator";

pub use super::audit_action::AuditAction;

/// An event as it is chained: everything except `prev_hash` and `hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub app_id: String,
    pub seq: i64,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_ip: Option<String>,
    pub request_id: String,
    pub action: AuditAction,
    pub target_client_id: Option<String>,
    pub features_before: Option<Vec<String>>,
    pub features_after: Option<Vec<String>>,
    pub changes: Value,
    /// `changes` in canonical form, set instead (with `changes` null) when the stored value
    /// nests too deeply to be held as a [`Value`]: rows written before setting values had a
    /// depth limit. Readers then show and hash this text, so such an event is neither fatal
    /// nor unverifiable. Always `None` for new events.
    pub changes_text: Option<String>,
}

/// An event as stored: with the hash it links from and its own.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event: AuditEvent,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl StoredEvent {
    /// See [`AuditEvent::write_record`].
    pub fn write_record(&self, out: &mut String) {
        self.event.write_record(out, &self.prev_hash, &self.hash);
    }
}

/// [`AuditEvent::canonical_parts`]: the canonical encoding without `occurred_at`'s and `seq`'s
/// values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanonicalParts {
    pub before: String,
    pub between: String,
    pub after: String,
}

/// `t` cut to microseconds, so that what PostgreSQL stores hashes the same way.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl AuditEvent {
    /// The one client this event changed and nothing else a snapshot entry holds (see
    /// [`AuditAction::reaches_only_its_client`]); `None`: the change may reach every entry of
    /// the application.
    pub fn only_client(&self) -> Option<&str> {
        self.target_client_id
            .as_deref()
            .filter(|_| self.action.reaches_only_its_client())
    }

    /// The canonical encoding hashed into the chain (see the module docs).
    pub fn canonical_json(&self) -> String {
        let mut out = String::with_capacity(512);
        self.write_members(&mut out, None);
        out
    }

    pub fn chain_hash(&self, prev_hash: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(prev_hash);
        h.update(self.canonical_json().as_bytes());
        h.finalize().into()
    }

    /// The event as exports and the query API show it: the canonical object plus `hash` and
    /// `prev_hash` in lowercase hex, itself in canonical form (one line, members sorted).
    pub fn write_record(&self, out: &mut String, prev_hash: &[u8], hash: &[u8]) {
        self.write_members(out, Some((prev_hash, hash)));
    }

    /// The canonical encoding cut around the two members the chain head decides, `occurred_at`
    /// and `seq`: `canonical_json() == before + format_time(occurred_at) + between + seq +
    /// after`. `store::audit::append` sends these three and lets PostgreSQL fill in the head's
    /// values and hash them, so the head's lock is held for one statement instead of a read, a
    /// round trip to here and a write (bench (b)).
    pub fn canonical_parts(&self) -> CanonicalParts {
        let mut parts = CanonicalParts::default();
        self.write_before_time(&mut parts.before, None);
        self.write_between(&mut parts.between, None);
        self.write_after_seq(&mut parts.after);
        parts
    }

    /// Writes the members in sorted order; `hashes` adds `hash` and `prev_hash` at their place.
    fn write_members(&self, out: &mut String, hashes: Option<(&[u8], &[u8])>) {
        self.write_before_time(out, hashes.map(|(_, hash)| hash));
        out.push_str(&format_time(&self.occurred_at));
        self.write_between(out, hashes.map(|(prev, _)| prev));
        let _ = write!(out, "{}", self.seq);
        self.write_after_seq(out);
    }

    /// From `{` to the opening quote of `occurred_at`'s value.
    fn write_before_time(&self, out: &mut String, hash: Option<&[u8]>) {
        fn opt_list(out: &mut String, v: Option<&[String]>) {
            match v {
                Some(items) => write_joined(out, ['[', ']'], items, |out, item| {
                    write_json_string(out, item)
                }),
                None => out.push_str("null"),
            }
        }
        out.push_str("{\"action\":");
        write_json_string(out, self.action.as_str());
        out.push_str(",\"actor\":");
        write_json_string(out, &self.actor);
        out.push_str(",\"actor_ip\":");
        write_opt_string(out, self.actor_ip.as_deref());
        out.push_str(",\"app_id\":");
        write_json_string(out, &self.app_id);
        out.push_str(",\"changes\":");
        match &self.changes_text {
            Some(text) => out.push_str(text),
            None => write_canonical(out, &self.changes),
        }
        out.push_str(",\"event_id\":\"");
        let mut buf = Uuid::encode_buffer();
        out.push_str(self.event_id.hyphenated().encode_lower(&mut buf));
        out.push_str("\",\"features_after\":");
        opt_list(out, self.features_after.as_deref());
        out.push_str(",\"features_before\":");
        opt_list(out, self.features_before.as_deref());
        if let Some(hash) = hash {
            out.push_str(",\"hash\":\"");
            push_hex(out, hash);
            out.push('"');
        }
        out.push_str(",\"occurred_at\":\"");
    }

    /// From the closing quote of `occurred_at`'s value to `seq`'s colon.
    fn write_between(&self, out: &mut String, prev_hash: Option<&[u8]>) {
        out.push('"');
        if let Some(prev) = prev_hash {
            out.push_str(",\"prev_hash\":\"");
            push_hex(out, prev);
            out.push('"');
        }
        out.push_str(",\"request_id\":");
        write_json_string(out, &self.request_id);
        out.push_str(",\"seq\":");
    }

    /// After `seq`'s value, to the closing `}`.
    fn write_after_seq(&self, out: &mut String) {
        out.push_str(",\"target_client_id\":");
        write_opt_string(out, self.target_client_id.as_deref());
        out.push('}');
    }

    /// Features this event added and removed (`features_after − features_before` and the
    /// reverse), each sorted. Events that do not record features change none.
    pub fn feature_delta(&self) -> (Vec<String>, Vec<String>) {
        feature_delta(
            self.features_before.as_deref(),
            self.features_after.as_deref(),
        )
    }
}

/// `(added, removed)` between two optional feature lists, each sorted and without duplicates.
pub fn feature_delta(
    before: Option<&[String]>,
    after: Option<&[String]>,
) -> (Vec<String>, Vec<String>) {
    let before = before.unwrap_or_default();
    let after = after.unwrap_or_default();
    let mut added: Vec<String> = after
        .iter()
        .filter(|f| !before.contains(f))
        .cloned()
        .collect();
    let mut removed: Vec<String> = before
        .iter()
        .filter(|f| !after.contains(f))
        .cloned()
        .collect();
    added.sort();
    added.dedup();
    removed.sort();
    removed.dedup();
    (added, removed)
}

fn write_opt_string(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) => write_json_string(out, s),
        None => out.push_str("null"),
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

/// Appends the RFC 8785 form of `value` (integers keep all their digits; see the module docs).
pub fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => write_joined(out, ['[', ']'], items, write_canonical),
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            sort_members(&mut members);
            write_joined(out, ['{', '}'], members, |out, (k, v)| {
                write_json_string(out, k);
                out.push(':');
                write_canonical(out, v);
            });
        }
    }
}

/// Appends `items` between `brackets`, comma separated, each written by `write_item`: the one
/// shape of every JSON array and object the canonical form writes.
fn write_joined<T>(
    out: &mut String,
    brackets: [char; 2],
    items: impl IntoIterator<Item = T>,
    mut write_item: impl FnMut(&mut String, T),
) {
    out.push(brackets[0]);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_item(out, item);
    }
    out.push(brackets[1]);
}

/// Sorts object members as RFC 8785 orders them: by the UTF-16 code units of their names. That
/// differs from byte (code point) order only between U+E000..U+FFFF and the supplementary
/// planes, so the rare maps with such names are sorted the slow way.
fn sort_members<K: AsRef<str>, V>(members: &mut [(K, V)]) {
    if members
        .iter()
        .any(|(k, _)| k.as_ref().chars().any(|c| c >= '\u{e000}'))
    {
        members.sort_by(|a, b| a.0.as_ref().encode_utf16().cmp(b.0.as_ref().encode_utf16()));
    } else {
        members.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    }
}

/// The canonical form ([`write_canonical`]) of the JSON `text`, built without recursion, so it
/// works at any depth (serde_json refuses to build a [`Value`] nested more than 128 levels).
/// `None` when `text` is not one JSON value.
pub fn canonical_from_text(text: &str) -> Option<String> {
    enum Node {
        /// A scalar, already canonical.
        Leaf(String),
        Array(Vec<usize>),
        Object(Vec<(String, usize)>),
    }
    let bytes = text.as_bytes();
    let mut nodes: Vec<Node> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut name: Option<String> = None;
    let mut root = None;
    let mut i = 0;
    while i < bytes.len() {
        let node = match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' => {
                i += 1;
                continue;
            }
            close @ (b']' | b'}') => {
                let matching = match nodes.get(open.pop()?)? {
                    Node::Array(_) => close == b']',
                    Node::Object(_) => close == b'}' && name.is_none(),
                    Node::Leaf(_) => false,
                };
                if !matching {
                    return None;
                }
                i += 1;
                continue;
            }
            b'[' => {
                i += 1;
                Node::Array(Vec::new())
            }
            b'{' => {
                i += 1;
                Node::Object(Vec::new())
            }
            b'"' => {
                let mut end = i + 1;
                while *bytes.get(end)? != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                let s: String = serde_json::from_str(text.get(i..=end)?).ok()?;
                i = end + 1;
                let in_object = open
                    .last()
                    .is_some_and(|&o| matches!(nodes[o], Node::Object(_)));
                if in_object && name.is_none() {
                    name = Some(s);
                    continue;
                }
                let mut leaf = String::new();
                write_json_string(&mut leaf, &s);
                Node::Leaf(leaf)
            }
            _ => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| b",]} \t\n\r:".contains(b))
                    .map_or(bytes.len(), |n| i + n);
                let scalar: Value = serde_json::from_str(text.get(i..end)?).ok()?;
                i = end;
                let mut leaf = String::new();
                write_canonical(&mut leaf, &scalar);
                Node::Leaf(leaf)
            }
        };
        let index = nodes.len();
        let container = !matches!(node, Node::Leaf(_));
        nodes.push(node);
        match open.last() {
            None if root.is_none() => root = Some(index),
            None => return None,
            Some(&parent) => match &mut nodes[parent] {
                Node::Array(items) => items.push(index),
                Node::Object(members) => members.push((name.take()?, index)),
                Node::Leaf(_) => return None,
            },
        }
        if container {
            open.push(index);
        }
    }
    if !open.is_empty() {
        return None;
    }
    for node in &mut nodes {
        if let Node::Object(members) = node {
            sort_members(members);
        }
    }
    enum Step {
        Node(usize),
        Punct(char),
        /// Member `.1` of object `.0`: its name and the colon.
        Name(usize, usize),
    }
    let mut out = String::with_capacity(text.len());
    let mut steps = vec![Step::Node(root?)];
    while let Some(step) = steps.pop() {
        match step {
            Step::Punct(c) => out.push(c),
            Step::Name(object, member) => {
                if let Node::Object(members) = &nodes[object] {
                    write_json_string(&mut out, &members[member].0);
                    out.push(':');
                }
            }
            Step::Node(n) => match &nodes[n] {
                Node::Leaf(leaf) => out.push_str(leaf),
                Node::Array(items) => {
                    out.push('[');
                    steps.push(Step::Punct(']'));
                    for (k, &child) in items.iter().enumerate().rev() {
                        steps.push(Step::Node(child));
                        if k > 0 {
                            steps.push(Step::Punct(','));
                        }
                    }
                }
                Node::Object(members) => {
                    out.push('{');
                    steps.push(Step::Punct('}'));
                    for (k, (_, child)) in members.iter().enumerate().rev() {
                        steps.push(Step::Node(*child));
                        steps.push(Step::Name(n, k));
                        if k > 0 {
                            steps.push(Step::Punct(','));
                        }
                    }
                }
            },
        }
    }
    Some(out)
}

/// A JSON string as RFC 8785 (and serde_json, and Python's `json.dumps(ensure_ascii=False)`)
/// writes it.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        write_es_number(out, f);
    } else {
        // Only reachable with serde_json's arbitrary_precision: keep the text as given.
        out.push_str(&n.to_string());
    }
}

/// The shortest decimal digits that read back as `f` (> 0), ties to even as ECMAScript wants,
/// and the position `n` of the decimal point: `f = 0.d1d2… × 10^n`. Taken from ryu (which
/// serde_json prints with): Rust's `{:e}` breaks ties upwards, which differs in the last digit.
fn shortest_digits(f: f64) -> (String, i32) {
    let text = serde_json::to_string(&f).unwrap_or_default();
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text.as_str(), 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut point = int.len() as i32 + exp;
    let all = format!("{int}{frac}");
    let trimmed = all.trim_start_matches('0');
    point -= (all.len() - trimmed.len()) as i32;
    (trimmed.trim_end_matches('0').to_owned(), point)
}

/// ECMAScript's Number::toString (ECMA-262 §6.1.6.1.20), which RFC 8785 adopts.
pub fn write_es_number(out: &mut String, f: f64) {
    if f == 0.0 || !f.is_finite() {
        // -0 prints as 0; JSON has no NaN or infinity (serde_json never produces them).
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    let (digits, n) = shortest_digits(f.abs());
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> AuditEvent {
        AuditEvent {
            app_id: "a".repeat(26),
            seq: 1,
            event_id: Uuid::nil(),
            occurred_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            actor: "operator".into(),
            actor_ip: Some("127.0.0.1".into()),
            request_id: "r".repeat(16),
            action: AuditAction::ClientCreate,
            target_client_id: Some("c".repeat(32)),
            features_before: None,
            features_after: Some(vec!["owner".into()]),
            changes: json!({"name": {"to": "x", "from": null}}),
            changes_text: None,
        }
    }

    #[test]
    fn canonical_json_is_sorted_and_compact() {
        let s = event().canonical_json();
        assert!(
            s.starts_with(
                r#"{"action":"client.create","actor":"operator","actor_ip":"127.0.0.1","app_id":"#
            ),
            "{s}"
        );
        assert!(
            s.contains(r#""changes":{"name":{"from":null,"to":"x"}}"#),
            "{s}"
        );
        assert!(s.contains(r#""features_before":null"#));
        assert!(
            s.contains(r#""occurred_at":"2023-11-14T22:13:20.123456Z""#),
            "{s}"
        );
        assert!(!s.contains(' '));
    }

    #[test]
    fn hash_depends_on_prev_and_on_every_field() {
        let e = event();
        let h1 = e.chain_hash(&GENESIS_HASH);
        assert_eq!(h1, e.chain_hash(&GENESIS_HASH));
        assert_ne!(h1, e.chain_hash(&[1u8; 32]));
        let mut e2 = e.clone();
        e2.seq = 2;
        assert_ne!(h1, e2.chain_hash(&GENESIS_HASH));
        let mut e3 = e.clone();
        e3.features_after = Some(vec!["owner".into(), "metadata".into()]);
        assert_ne!(h1, e3.chain_hash(&GENESIS_HASH));
    }

    #[test]
    fn hash_matches_a_plain_sha256_recipe() {
        let e = event();
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(e.canonical_json());
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(e.chain_hash(&GENESIS_HASH), expected);
    }

    #[test]
    fn canonical_parts_join_around_time_and_seq() {
        let mut plain = event();
        plain.actor_ip = None;
        plain.target_client_id = None;
        plain.features_before = None;
        let mut deep = event();
        deep.changes = Value::Null;
        deep.changes_text = Some("{\"a\":[1,{\"b\":null}]}".into());
        deep.seq = i64::MAX;
        for e in [event(), plain, deep] {
            let p = e.canonical_parts();
            let joined = format!(
                "{}{}{}{}{}",
                p.before,
                format_time(&e.occurred_at),
                p.between,
                e.seq,
                p.after
            );
            assert_eq!(joined, e.canonical_json());
            assert!(p.before.ends_with(",\"occurred_at\":\""), "{}", p.before);
            assert!(p.between.ends_with(",\"seq\":"), "{}", p.between);
        }
    }

    fn canon(v: Value) -> String {
        let mut s = String::new();
        write_canonical(&mut s, &v);
        s
    }

    fn num(f: f64) -> String {
        let mut s = String::new();
        write_es_number(&mut s, f);
        s
    }

    #[test]
    fn numbers_print_as_ecmascript_does() {
        // Expected values: what `String(x)` gives in JavaScript (RFC 8785 appendix B).
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.5, "-1.5"),
            (-0.0, "0"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.2345e22, "1.2345e+22"),
            (9007199254740992.0, "9007199254740992"),
            (1152921504606846976.0, "1152921504606847000"),
            (4.5, "4.5"),
            // Exact ties (-2050554029377105.25, 172005811625964.625): ECMAScript (and ryu) pick
            // the even last digit; Rust's `{:e}` does not.
            (f64::from_bits(0xc31d_23df_420e_1945), "-2050554029377105.2"),
            (f64::from_bits(0x42e3_8e07_29a3_fd94), "172005811625964.62"),
            (333333333.3333333, "333333333.3333333"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (f, want) in cases {
            assert_eq!(num(*f), *want, "{f:e}");
        }
        // Integers keep every digit, even past 2^53.
        assert_eq!(
            canon(json!(12345678901234567890u64)),
            "12345678901234567890"
        );
        assert_eq!(canon(json!(-9007199254740993i64)), "-9007199254740993");
    }

    #[test]
    fn strings_escape_only_what_rfc_8785_escapes() {
        assert_eq!(
            canon(json!("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é€😀/")),
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é€😀/\""
        );
    }

    #[test]
    fn members_sort_by_utf16_code_units() {
        // U+FB01 sorts after U+1F600 in UTF-16 (0xFB01 > 0xD83D) but before it in UTF-8.
        assert_eq!(
            canon(json!({"\u{fb01}": 1, "\u{1f600}": 2, "b": 3, "a": [true, null]})),
            "{\"a\":[true,null],\"b\":3,\"\u{1f600}\":2,\"\u{fb01}\":1}"
        );
    }

    #[test]
    fn canonical_json_equals_the_generic_canonical_form() {
        let e = event();
        let v: Value = serde_json::from_str(&e.canonical_json()).unwrap();
        assert_eq!(canon(v), e.canonical_json());
    }

    #[test]
    fn canonical_from_text_agrees_with_the_value_form_at_any_depth() {
        for v in [
            json!({"\u{fb01}": 1, "\u{1f600}": [2.50, -0.0, 1e21], "b": "x\"\u{1}\n", "a": [true, null]}),
            json!({"k": {"from": {"z": [], "y": {}}, "to": 10000000000000000u64}}),
            json!("plain"),
            json!(1.5e-7),
            json!([]),
        ] {
            let text = serde_json::to_string_pretty(&v).unwrap();
            assert_eq!(
                canonical_from_text(&text).as_deref(),
                Some(canon(v).as_str())
            );
        }
        let deep = format!("{{ \"k\" : {}1{} }}", "[".repeat(5000), "]".repeat(5000));
        assert!(
            serde_json::from_str::<Value>(&deep).is_err(),
            "too deep for serde_json"
        );
        assert_eq!(
            canonical_from_text(&deep),
            Some(format!(
                "{{\"k\":{}1{}}}",
                "[".repeat(5000),
                "]".repeat(5000)
            ))
        );
        for bad in [
            "",
            "[",
            "]",
            "[}",
            "{\"a\"}",
            "[1]]",
            "1 2",
            "\"open",
            "{\"a\":tru}",
        ] {
            assert_eq!(canonical_from_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn record_adds_the_hashes_in_sorted_position() {
        let e = event();
        let mut rec = String::new();
        e.write_record(&mut rec, &[0u8; 32], &[0xabu8; 32]);
        let mut v: Value = serde_json::from_str(&rec).unwrap();
        assert_eq!(canon(v.clone()), rec, "a record is itself canonical");
        assert_eq!(v["hash"], "ab".repeat(32));
        assert_eq!(v["prev_hash"], "00".repeat(32));
        let obj = v.as_object_mut().unwrap();
        obj.remove("hash");
        obj.remove("prev_hash");
        assert_eq!(canon(v), e.canonical_json());
    }

    #[test]
    fn floats_in_changes_survive_a_text_round_trip() {
        // What PostgreSQL's jsonb gives back is the same number written differently; the
        // canonical form must not change.
        let mut e = event();
        e.changes = json!({"v": 1e16, "w": 1.0, "x": 1.5e-7, "y": -0.0});
        let h = e.chain_hash(&GENESIS_HASH);
        e.changes =
            serde_json::from_str(r#"{"v": 10000000000000000, "w": 1.0, "x": 0.00000015, "y": 0}"#)
                .unwrap();
        assert_eq!(e.chain_hash(&GENESIS_HASH), h);
    }

    #[test]
    fn feature_delta_is_the_symmetric_difference() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (a, r) = feature_delta(
            Some(&v(&["owner", "direct_access"])),
            Some(&v(&["direct_access", "access_issuer"])),
        );
        assert_eq!((a, r), (v(&["access_issuer"]), v(&["owner"])));
        assert_eq!(feature_delta(None, None), (vec![], vec![]));
        assert_eq!(
            feature_delta(None, Some(&v(&["owner"]))),
            (v(&["owner"]), vec![])
        );
    }
}

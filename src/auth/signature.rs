//! The vendor's `janrain-signed` request scheme, as pure functions (no I/O, no clock).
//!
//! `Authorization: Signature <client_id>:<base64(HMAC-SHA1(client_secret, S))>` with a
//! `Date: YYYY-MM-DD HH:MM:SS` header (UTC). S is the root-anchored call path, `\n`, the Date
//! value, `\n`, then each parameter as `key=value`, the lines sorted, each followed by `\n`.
//! The parameters are the form values as sent, without `client_id` and `client_secret` (the
//! vendor's Python library does not send them when it signs). With no parameters S is
//! `path\ndate\n`; the vendor's documentation snippet writes `path\ndate\n\n` then, so that
//! form is accepted too.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The `Date` format of signed requests.
pub const DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Length of an HMAC-SHA1 output.
pub const MAC_LEN: usize = 20;

/// Parameters that authenticate instead of being signed.
const UNSIGNED: [&str; 2] = ["client_id", "client_secret"];

/// Whether a parameter is part of the signed string (all but `client_id`, `client_secret`).
pub fn is_signed_param(name: &str) -> bool {
    !UNSIGNED.contains(&name)
}

/// A parsed `Authorization: Signature id:mac` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub client_id: String,
    pub mac: [u8; MAC_LEN],
}

/// Whether an `Authorization` value uses the `Signature` scheme at all.
pub fn is_signature_scheme(value: &str) -> bool {
    value
        .trim_start()
        .split_once(' ')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("signature"))
}

/// Parses `Signature <client_id>:<base64 mac>`; `None` when malformed.
pub fn parse_header(value: &str) -> Option<SignatureHeader> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("signature") {
        return None;
    }
    let (client_id, mac) = rest.trim().rsplit_once(':')?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(mac.trim())
        .ok()?;
    Some(SignatureHeader {
        client_id: client_id.trim().to_owned(),
        mac: decoded.try_into().ok()?,
    })
}

/// Parses a `Date` header value of a signed request (UTC).
pub fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value.trim(), DATE_FORMAT)
        .ok()
        .map(|d| d.and_utc())
}

/// The string a client signs: `path\ndate\n` then the sorted `key=value` lines.
pub fn string_to_sign<'a>(
    path: &str,
    date: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut lines: Vec<String> = params
        .into_iter()
        .filter(|(k, _)| is_signed_param(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    // The vendor sorts the whole `key=value` lines (code point order), not the keys.
    lines.sort();
    let mut s = format!("{path}\n{date}\n");
    for line in lines {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// HMAC-SHA1 of `message` under `secret`. (`None` cannot happen: HMAC takes keys of any
/// length; it is kept typed rather than unwrapped.)
pub fn mac(secret: &str, message: &str) -> Option<[u8; MAC_LEN]> {
    let mut m = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    m.update(message.as_bytes());
    Some(m.finalize().into_bytes().into())
}

/// The value of the `Authorization` header for a request (what a client computes).
pub fn authorization(client_id: &str, secret: &str, message: &str) -> Option<String> {
    Some(format!(
        "Signature {client_id}:{}",
        base64::engine::general_purpose::STANDARD.encode(mac(secret, message)?)
    ))
}

/// Whether `presented` is the signature of `message` under `secret`, in constant time. With
/// `no_params`, the documentation's `path\ndate\n\n` form is tried as well (both always
/// computed, so the time does not depend on which one matched).
pub fn verify(secret: &str, message: &str, no_params: bool, presented: &[u8; MAC_LEN]) -> bool {
    let check = |m: &str| match mac(secret, m) {
        Some(computed) => computed.ct_eq(presented),
        None => subtle::Choice::from(0),
    };
    let main = check(message);
    let alternate = if no_params {
        check(&format!("{message}\n"))
    } else {
        subtle::Choice::from(0)
    };
    bool::from(main | alternate)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdefghijklmnopqrstuv";

    /// Signatures made by the vendor's Python library (`janrain.capture.api.
    /// generate_signature`, janrain-python-api 0.4.0) for fixed inputs.
    #[test]
    fn matches_the_vendor_library() {
        let s = string_to_sign(
            "/clients/set_features",
            "2026-12-01 15:04:05",
            [
                ("client_id", "abc123"),
                ("client_secret", SECRET),
                ("for_client_id", "zz9"),
                ("features", r#"["owner", "direct_access"]"#),
            ],
        );
        assert_eq!(
            s,
            "/clients/set_features\n2026-12-01 15:04:05\nfeatures=[\"owner\", \"direct_access\"]\nfor_client_id=zz9\n"
        );
        assert_eq!(
            authorization("abc123", SECRET, &s).unwrap(),
            "Signature abc123:85rM11jR1jdE1qLRwzOB6WnkOxI="
        );

        let s = string_to_sign("/clients/list", "2026-12-01 15:04:05", []);
        assert_eq!(s, "/clients/list\n2026-12-01 15:04:05\n");
        assert_eq!(
            authorization("abc123", SECRET, &s).unwrap(),
            "Signature abc123:1Tjt6b8IYWRYLuSlUq3N5wZxd8g="
        );

        // Lines, not keys, are sorted: `a-b=` sorts before `a=`; values are as sent.
        let s = string_to_sign(
            "/settings/set",
            "2026-12-01 15:04:05",
            [("value", "é\n x=1"), ("key", "a-b")],
        );
        assert_eq!(
            authorization("abc123", SECRET, &s).unwrap(),
            "Signature abc123:bxaiPOJ9gh6yKz/FUp0p5EfGKOw="
        );
    }

    /// The vendor documentation's worked example (security schemes, `janrain-signed`):
    /// `GET /entity.find?type_name=user&filter=lastUpdated >= '2016-01-01'` with
    /// `Date: 2016-02-26 19:08:44` and `Authorization: Signature
    /// apkrahlfumwse2e9nvrrotv6vchuptzw:rRSudiGtMM5hEHYcwP49kt18jNk=`. The documentation does
    /// not publish the client secret, so the MAC itself cannot be recomputed; what it fixes is
    /// the header layout, the Date format and the string that is signed.
    #[test]
    fn the_documentation_example() {
        let header =
            parse_header("Signature apkrahlfumwse2e9nvrrotv6vchuptzw:rRSudiGtMM5hEHYcwP49kt18jNk=")
                .unwrap();
        assert_eq!(header.client_id, "apkrahlfumwse2e9nvrrotv6vchuptzw");
        assert_eq!(header.mac.len(), 20, "HMAC-SHA1");
        let date = parse_date("2016-02-26 19:08:44").unwrap();
        assert_eq!(date.to_rfc3339(), "2016-02-26T19:08:44+00:00");
        assert_eq!(
            string_to_sign(
                "/entity.find",
                "2016-02-26 19:08:44",
                [
                    ("type_name", "user"),
                    ("filter", "lastUpdated >= '2016-01-01'")
                ]
            ),
            "/entity.find\n2016-02-26 19:08:44\nfilter=lastUpdated >= '2016-01-01'\ntype_name=user\n"
        );
        // The documentation's snippet signs `path\ndate\n\n` when there are no parameters.
        let doc_form = "/clients/list\n2016-02-26 19:08:44\n\n";
        let presented = mac(SECRET, doc_form).unwrap();
        assert!(verify(
            SECRET,
            "/clients/list\n2016-02-26 19:08:44\n",
            true,
            &presented
        ));
        assert!(!verify(
            SECRET,
            "/clients/list\n2016-02-26 19:08:44\n",
            false,
            &presented
        ));
    }

    #[test]
    fn verification_refuses_any_change() {
        let s = string_to_sign("/clients/list", "2026-12-01 15:04:05", [("a", "1")]);
        let good = mac(SECRET, &s).unwrap();
        assert!(verify(SECRET, &s, false, &good));
        let mut tampered = good;
        tampered[0] ^= 1;
        assert!(!verify(SECRET, &s, false, &tampered));
        assert!(!verify("another secret", &s, false, &good));
        let other = string_to_sign("/clients/list", "2026-12-01 15:04:05", [("a", "2")]);
        assert!(!verify(SECRET, &other, false, &good));
    }

    #[test]
    fn headers() {
        assert!(is_signature_scheme("Signature a:b"));
        assert!(is_signature_scheme("signature a:b"));
        assert!(!is_signature_scheme("Basic abc"));
        assert!(!is_signature_scheme("Signature"));
        assert_eq!(parse_header("Signature nocolon"), None);
        assert_eq!(parse_header("Signature id:!!!"), None);
        assert_eq!(parse_header("Signature id:c2hvcnQ="), None, "not 20 bytes");
        assert_eq!(parse_header("Basic id:rRSudiGtMM5hEHYcwP49kt18jNk="), None);
    }

    #[test]
    fn dates() {
        assert!(parse_date("2026-12-01 15:04:05").is_some());
        assert!(parse_date("2026-12-01T15:04:05").is_none());
        assert!(parse_date("Tue, 01 Dec 2026 15:04:05 GMT").is_none());
        assert!(parse_date("").is_none());
    }
}

//! Sinks: where the audit log is streamed (docs/streaming.md). Pure rules: what a sink's
//! configuration may be (each refusal one line), the Standard Webhooks signature, the delay
//! between attempts.

use super::wire_name::wire_names;
use std::net::IpAddr;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

/// How events leave Latchkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// HTTPS POST, signed per the Standard Webhooks specification.
    Webhook,
    /// Splunk's HTTP Event Collector.
    SplunkHec,
    /// RFC 5424 over TCP with octet counting (RFC 6587), optionally TLS (RFC 5425).
    Syslog,
}

wire_names! { SinkKind, refused: SinkConfigError = |other| SinkConfigError::UnknownKind(other.to_owned()); {
    Webhook => "webhook",
    SplunkHec => "splunk_hec",
    Syslog => "syslog",
} }

/// Why a sink's configuration was refused: one line each, naming the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkConfigError {
    #[error("Unknown sink kind {0:?}: expected webhook, splunk_hec or syslog.")]
    UnknownKind(String),
    #[error("Not a valid sink name {0:?}: 1 to 64 characters of a-z, 0-9, - and _, starting with a letter or digit.")]
    BadName(String),
    #[error("A {0} sink needs a url.")]
    UrlMissing(SinkKind),
    #[error("Not a valid URL {url:?}: {reason}.")]
    BadUrl { url: String, reason: String },
    #[error("A webhook URL must use https (http only to a loopback address): {0:?}.")]
    InsecureWebhook(String),
    #[error("A {0} URL must use https or http: {1:?}.")]
    BadScheme(SinkKind, String),
    #[error("A URL must not carry credentials (user:password@): give the token instead.")]
    UrlCredentials,
    #[error("A splunk_hec sink needs a token.")]
    TokenMissing,
    #[error("A syslog sink needs an address (host:port).")]
    AddressMissing,
    #[error("A syslog address needs a port (host:port): {0:?}.")]
    PortMissing(String),
    #[error("Not a valid syslog address {0:?}: expected host:port.")]
    BadAddress(String),
    #[error("A CA file is only used with TLS (add tls).")]
    CaWithoutTls,
    #[error("The {field} option does not apply to a {kind} sink.")]
    NotForKind { field: &'static str, kind: SinkKind },
    #[error("Not a valid batch size {0}: 1 to 1000 events.")]
    BadBatch(i64),
    #[error("Not a valid sourcetype or index {0:?}: 1 to 128 printable characters.")]
    BadSourcetype(String),
    #[error("Not a valid action name {0:?} (e.g. client.update).")]
    BadAction(String),
    #[error("The application filter is empty: leave it out for every application.")]
    EmptyApps,
    #[error("The action filter is empty: leave it out for every action.")]
    EmptyActions,
}

/// A sink name: what the operator calls it everywhere (`/sinks/{name}`, `latchkey sinks show`).
pub fn parse_sink_name(name: &str) -> Result<String, SinkConfigError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(name.to_owned())
    } else {
        Err(SinkConfigError::BadName(name.to_owned()))
    }
}

/// What the operator asked for, unparsed (both the HTTP body and the command line build it).
#[derive(Debug, Clone, Default)]
pub struct SinkDraft {
    pub name: String,
    pub kind: String,
    pub url: Option<String>,
    pub address: Option<String>,
    pub token: Option<String>,
    pub tls: bool,
    pub ca_file: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
    pub batch_max: Option<i64>,
    /// `None`: every application (also those created later).
    pub apps: Option<Vec<String>>,
    /// `None`: every action.
    pub actions: Option<Vec<String>>,
    /// Deliver the applications' whole logs, not only what happens from now on.
    pub from_beginning: bool,
}

/// Where a sink delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    Webhook {
        url: Url,
    },
    SplunkHec {
        url: Url,
        sourcetype: String,
        index: Option<String>,
    },
    Syslog {
        host: String,
        port: u16,
        tls: bool,
        ca_file: Option<String>,
    },
}

impl SinkTarget {
    pub fn kind(&self) -> SinkKind {
        match self {
            SinkTarget::Webhook { .. } => SinkKind::Webhook,
            SinkTarget::SplunkHec { .. } => SinkKind::SplunkHec,
            SinkTarget::Syslog { .. } => SinkKind::Syslog,
        }
    }

    /// Where it goes, as shown and audited: the URL or `host:port` (never a secret: URLs with
    /// credentials are refused).
    pub fn destination(&self) -> String {
        match self {
            SinkTarget::Webhook { url } | SinkTarget::SplunkHec { url, .. } => url.to_string(),
            SinkTarget::Syslog { host, port, .. } => format_address(host, *port),
        }
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn format_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A checked sink configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSpec {
    pub name: String,
    pub target: SinkTarget,
    pub batch_max: i32,
    pub apps: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
    /// The Splunk token (given by the operator); webhook secrets are generated, not given.
    pub token: Option<String>,
}

/// The default sourcetype of Splunk events.
pub const DEFAULT_SOURCETYPE: &str = "latchkey:audit";

impl SinkDraft {
    /// Checks everything that needs no I/O. The service then checks that the applications
    /// exist and that the CA file reads.
    pub fn check(self) -> Result<SinkSpec, SinkConfigError> {
        let name = parse_sink_name(&self.name)?;
        let kind: SinkKind = self.kind.parse()?;
        let not_for = |field: &'static str| SinkConfigError::NotForKind { field, kind };
        let batch_max = match self.batch_max {
            None => 1,
            Some(n @ 1..=1000) => n as i32,
            Some(n) => return Err(SinkConfigError::BadBatch(n)),
        };
        let target = match kind {
            SinkKind::Webhook | SinkKind::SplunkHec => {
                if self.address.is_some() {
                    return Err(not_for("address"));
                }
                if self.tls || self.ca_file.is_some() {
                    return Err(not_for("tls"));
                }
                let url = parse_url(kind, self.url.as_deref())?;
                if kind == SinkKind::Webhook {
                    if self.token.is_some() {
                        return Err(not_for("token"));
                    }
                    if self.sourcetype.is_some() || self.index.is_some() {
                        return Err(not_for("sourcetype"));
                    }
                    if url.scheme() != "https" && !is_loopback(&url) {
                        return Err(SinkConfigError::InsecureWebhook(url.to_string()));
                    }
                    SinkTarget::Webhook { url }
                } else {
                    if self.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
                        return Err(SinkConfigError::TokenMissing);
                    }
                    SinkTarget::SplunkHec {
                        url,
                        sourcetype: printable(
                            self.sourcetype
                                .unwrap_or_else(|| DEFAULT_SOURCETYPE.to_owned()),
                        )?,
                        index: self.index.map(printable).transpose()?,
                    }
                }
            }
            SinkKind::Syslog => {
                if self.url.is_some() {
                    return Err(not_for("url"));
                }
                if self.token.is_some() {
                    return Err(not_for("token"));
                }
                if self.sourcetype.is_some() || self.index.is_some() {
                    return Err(not_for("sourcetype"));
                }
                if self.batch_max.is_some() {
                    return Err(not_for("batch"));
                }
                if self.ca_file.is_some() && !self.tls {
                    return Err(SinkConfigError::CaWithoutTls);
                }
                let address = self.address.ok_or(SinkConfigError::AddressMissing)?;
                let (host, port) = parse_address(&address)?;
                SinkTarget::Syslog {
                    host,
                    port,
                    tls: self.tls,
                    ca_file: self.ca_file,
                }
            }
        };
        let apps = match self.apps {
            Some(a) if a.is_empty() => return Err(SinkConfigError::EmptyApps),
            Some(mut a) => {
                a.sort();
                a.dedup();
                Some(a)
            }
            None => None,
        };
        let actions = match self.actions {
            Some(a) if a.is_empty() => return Err(SinkConfigError::EmptyActions),
            Some(mut a) => {
                for action in &a {
                    check_action(action)?;
                }
                a.sort();
                a.dedup();
                Some(a)
            }
            None => None,
        };
        Ok(SinkSpec {
            name,
            target,
            batch_max,
            apps,
            actions,
            token: self.token.map(|t| t.trim().to_owned()),
        })
    }
}

fn printable(s: String) -> Result<String, SinkConfigError> {
    if (1..=128).contains(&s.len()) && s.chars().all(|c| !c.is_control()) {
        Ok(s)
    } else {
        Err(SinkConfigError::BadSourcetype(s))
    }
}

/// The action-filter value that selects signed checkpoints, and the `action` of their records
/// (not an audit action: a checkpoint is not an event of the chain; docs/streaming.md).
pub const CHECKPOINT_ACTION: &str = "checkpoint";

/// An action this release writes (`crate::domain::audit_action`), or [`CHECKPOINT_ACTION`].
fn check_action(action: &str) -> Result<(), SinkConfigError> {
    if action == CHECKPOINT_ACTION {
        return Ok(());
    }
    action
        .parse::<super::audit_action::AuditAction>()
        .map(|_| ())
        .map_err(|_| SinkConfigError::BadAction(action.to_owned()))
}

fn parse_url(kind: SinkKind, url: Option<&str>) -> Result<Url, SinkConfigError> {
    let text = url.ok_or(SinkConfigError::UrlMissing(kind))?;
    let url = Url::parse(text).map_err(|e| SinkConfigError::BadUrl {
        url: text.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(SinkConfigError::BadScheme(kind, text.to_owned()));
    }
    if url.host().is_none() {
        return Err(SinkConfigError::BadUrl {
            url: text.to_owned(),
            reason: "no host".into(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SinkConfigError::UrlCredentials);
    }
    Ok(url)
}

/// `localhost`, 127.0.0.0/8 or ::1: plain HTTP never leaves the machine there.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

/// `host:port` or `[v6]:port`.
pub fn parse_address(address: &str) -> Result<(String, u16), SinkConfigError> {
    let bad = || SinkConfigError::BadAddress(address.to_owned());
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        match after.strip_prefix(':') {
            Some(port) => (host, port),
            None if after.is_empty() => {
                return Err(SinkConfigError::PortMissing(address.to_owned()))
            }
            None => return Err(bad()),
        }
    } else {
        match address.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                // A bare IPv6 address: its port cannot be told apart.
                if address.parse::<IpAddr>().is_ok() {
                    return Err(SinkConfigError::PortMissing(address.to_owned()));
                }
                return Err(bad());
            }
            Some((host, port)) => (host, port),
            None => return Err(SinkConfigError::PortMissing(address.to_owned())),
        }
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'));
    if port == 0 || !host_ok {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// A new webhook signing secret: `whsec_` and the base64 of 32 random bytes (the form the
/// Standard Webhooks libraries take).
pub fn new_webhook_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", B64.encode(bytes))
}

/// The `webhook-signature` header value: `v1,` and the base64 HMAC-SHA256, under the secret's
/// key bytes, of `id.timestamp.body`. `None` when the secret is not `whsec_<base64>`.
pub fn webhook_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = B64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The first retry waits about this long; each further one twice as long, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The wait before attempt `failures + 1`: capped exponential, scaled by `jitter` in [0, 1]
/// to between half and all of it ("equal jitter"), so many instances do not retry in step.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = FIRST_BACKOFF.saturating_mul(1u32 << failures.min(16));
    let capped = exp.min(MAX_BACKOFF);
    capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// What a receiver's HTTP status means for the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: delivered; the cursor advances.
    Delivered,
    /// 408, 429, 5xx, anything odd: try again later.
    Retry,
    /// Any other 4xx: retrying will not help; pause the sink and record the answer.
    Pause,
}

pub fn classify_status(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        408 | 429 => Answer::Retry,
        400..=499 => Answer::Pause,
        _ => Answer::Retry,
    }
}

/// How `rewind` places a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewindTo {
    /// Deliver again from this revision (included).
    Revision(i64),
    /// Deliver again every event at or after this time.
    Time(chrono::DateTime<chrono::Utc>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(kind: &str) -> SinkDraft {
        SinkDraft {
            name: "siem".into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    fn refused(d: SinkDraft) -> String {
        d.check().unwrap_err().to_string()
    }

    fn webhook(url: &str) -> SinkDraft {
        SinkDraft {
            url: Some(url.into()),
            ..draft("webhook")
        }
    }

    fn syslog(address: &str) -> SinkDraft {
        SinkDraft {
            address: Some(address.into()),
            ..draft("syslog")
        }
    }

    #[test]
    fn webhooks_need_https_except_on_loopback() {
        for ok in [
            "https://example.com/hook",
            "http://127.0.0.1:9000/x",
            "http://[::1]:80/",
            "http://localhost/",
        ] {
            assert!(webhook(ok).check().is_ok(), "{ok}");
        }
        let credentials = SinkConfigError::UrlCredentials.to_string();
        for (url, error) in [
            (
                "http://example.com/hook",
                "A webhook URL must use https (http only to a loopback address): \"http://example.com/hook\".",
            ),
            (
                "not a url",
                "Not a valid URL \"not a url\": relative URL without a base.",
            ),
            ("https://u:p@example.com/", credentials.as_str()),
        ] {
            assert_eq!(refused(webhook(url)), error, "{url}");
        }
        assert_eq!(refused(draft("webhook")), "A webhook sink needs a url.");
    }

    #[test]
    fn splunk_needs_a_token_and_syslog_a_port() {
        let mut d = draft("splunk_hec");
        d.url = Some("https://splunk:8088/services/collector/event".into());
        assert_eq!(refused(d.clone()), "A splunk_hec sink needs a token.");
        d.token = Some("abc".into());
        let spec = d.check().unwrap();
        assert_eq!(
            spec.target,
            SinkTarget::SplunkHec {
                url: Url::parse("https://splunk:8088/services/collector/event").unwrap(),
                sourcetype: DEFAULT_SOURCETYPE.into(),
                index: None
            }
        );
        for (address, error) in [
            (
                "logs.example.com",
                "A syslog address needs a port (host:port): \"logs.example.com\".",
            ),
            ("::1", "A syslog address needs a port (host:port): \"::1\"."),
            (
                "logs:notaport",
                "Not a valid syslog address \"logs:notaport\": expected host:port.",
            ),
        ] {
            assert_eq!(refused(syslog(address)), error, "{address}");
        }
        assert_eq!(
            syslog("[::1]:6514").check().unwrap().target.destination(),
            "[::1]:6514"
        );
        let mut s = syslog("logs:514");
        s.ca_file = Some("/ca.pem".into());
        assert_eq!(refused(s), "A CA file is only used with TLS (add tls).");
        assert_eq!(
            refused(draft("kafka")),
            "Unknown sink kind \"kafka\": expected webhook, splunk_hec or syslog."
        );
    }

    #[test]
    fn names_filters_and_batches() {
        let mut d = draft("webhook");
        d.url = Some("https://x.example/".into());
        d.name = "Bad Name".into();
        assert!(refused(d.clone()).starts_with("Not a valid sink name"));
        d.name = "siem-1".into();
        d.actions = Some(vec!["client.update".into(), "nope".into()]);
        assert_eq!(
            refused(d.clone()),
            "Not a valid action name \"nope\" (e.g. client.update)."
        );
        d.actions = Some(vec![]);
        assert_eq!(
            refused(d.clone()),
            "The action filter is empty: leave it out for every action."
        );
        d.actions = Some(vec!["client.update".into(), "client.create".into()]);
        d.batch_max = Some(0);
        assert_eq!(
            refused(d.clone()),
            "Not a valid batch size 0: 1 to 1000 events."
        );
        d.batch_max = Some(50);
        let spec = d.check().unwrap();
        assert_eq!(spec.batch_max, 50);
        assert_eq!(
            spec.actions.unwrap(),
            vec!["client.create".to_string(), "client.update".to_string()]
        );
    }

    #[test]
    fn standard_webhooks_signature() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            webhook_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(webhook_signature("nope", "id", 1, b"").is_none());
        let fresh = new_webhook_secret();
        assert!(fresh.starts_with("whsec_") && B64.decode(&fresh[6..]).unwrap().len() == 32);
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        assert_eq!(backoff(0, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(0, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(30, 0.0), MAX_BACKOFF / 2);
    }

    #[test]
    fn statuses() {
        assert_eq!(classify_status(204), Answer::Delivered);
        assert_eq!(classify_status(408), Answer::Retry);
        assert_eq!(classify_status(429), Answer::Retry);
        assert_eq!(classify_status(503), Answer::Retry);
        assert_eq!(classify_status(401), Answer::Pause);
        assert_eq!(classify_status(410), Answer::Pause);
        assert_eq!(classify_status(302), Answer::Retry);
    }
}

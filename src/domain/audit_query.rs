//! The audit query language: filters, order, keyset cursors, output formats, and the CSV form
//! of an event. Pure: the HTTP adapter and the CLI both parse through here.

use super::wire_name::wire_names;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};

use super::audit::{format_time, write_canonical, AuditEvent};
use super::Feature;

/// Largest page of the JSON API.
pub const MAX_LIMIT: u32 = 1000;
pub const DEFAULT_LIMIT: u32 = 100;
/// Longest accepted retention (100 years); shorter than that is a decision, longer is a typo.
pub const MAX_KEEP_DAYS: i32 = 36_500;

/// Why an audit query (or retention setting) was refused: one clear message each (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditInputError {
    #[error("Invalid {field}: expected an RFC 3339 time such as 2024-05-01T00:00:00Z.")]
    BadTime { field: &'static str },
    #[error("since must be earlier than until.")]
    EmptyPeriod,
    #[error("Invalid limit: expected an integer from 1 to 1000.")]
    BadLimit,
    #[error("Invalid cursor.")]
    BadCursor,
    #[error("The cursor was made for the other order.")]
    CursorOrder,
    #[error("Invalid order: expected newest or oldest.")]
    BadOrder,
    #[error("Invalid format: expected json, ndjson or csv.")]
    BadFormat,
    #[error("Not a valid feature name.")]
    BadFeature,
    #[error("Unknown parameter: {name}.")]
    UnknownParameter { name: String },
    #[error("Parameter {name} given more than once.")]
    Repeated { name: String },
    #[error("Parameter {name} must not be empty.")]
    Empty { name: String },
    /// PostgreSQL `text` cannot hold U+0000, so no stored value can match it.
    #[error("Invalid {name}: contains a NUL character.")]
    Nul { name: String },
    #[error("limit and cursor page JSON results; ndjson and csv stream every matching event.")]
    PagingInStream,
    #[error("Invalid retention: expected a number of days from 1 to 36500.")]
    BadRetention,
    #[error("Invalid anchor: expected SEQ:HASH, the hash as 64 hex digits.")]
    BadAnchor,
    #[error("Invalid {field}: the moment is in the future.")]
    Future { field: &'static str },
    #[error("Invalid format: expected json or csv.")]
    BadReviewFormat,
    #[error("from must not be later than to.")]
    Reversed,
    #[error("Parameter {name} is required.")]
    Missing { name: &'static str },
    /// A moment before the retained audit history (entitlements are rebuilt from it).
    #[error("The audit history starts at {earliest}: entitlements can be reconstructed from that moment on.")]
    BeforeHistory { earliest: String },
    #[error("The audit history of this application is empty: there is nothing to reconstruct.")]
    NoHistory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

wire_names! { Order, refused: AuditInputError = |_| AuditInputError::BadOrder; {
    NewestFirst => "newest",
    OldestFirst => "oldest",
} }

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
}

wire_names! { Format, refused: AuditInputError = |_| AuditInputError::BadFormat; {
    Json => "json",
    Ndjson => "ndjson",
    Csv => "csv",
} }

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8; header=present",
        }
    }

    /// The format an `Accept` header asks for: the supported type with the highest q-value
    /// (first listed wins a tie); JSON when nothing supported is named.
    pub fn from_accept(accept: &str) -> Format {
        let mut best: Option<(f32, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "application/x-ndjson" | "application/ndjson" => Format::Ndjson,
                "text/csv" => Format::Csv,
                "application/json" | "application/*" | "*/*" => Format::Json,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Json, |(_, f)| f)
    }
}

/// Which events: every given filter must match (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The client the event is about (`target_client_id`).
    pub client: Option<String>,
    /// Who made the change: a client id or `operator`.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Events that added or removed this feature.
    pub feature: Option<String>,
    /// Inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// Whether `e` matches, exactly as the SQL of the store filters (used by tests and docs).
    pub fn matches(&self, e: &AuditEvent) -> bool {
        let (added, removed) = e.feature_delta();
        self.client
            .as_ref()
            .is_none_or(|c| e.target_client_id.as_ref() == Some(c))
            && self.actor.as_ref().is_none_or(|a| &e.actor == a)
            && self.action.as_ref().is_none_or(|a| e.action.as_str() == a)
            && self
                .feature
                .as_ref()
                .is_none_or(|f| added.contains(f) || removed.contains(f))
            && self.since.is_none_or(|t| e.occurred_at >= t)
            && self.until.is_none_or(|t| e.occurred_at < t)
    }

    pub fn check_period(&self) -> Result<(), AuditInputError> {
        match (self.since, self.until) {
            (Some(s), Some(u)) if s >= u => Err(AuditInputError::EmptyPeriod),
            _ => Ok(()),
        }
    }
}

/// Where a page ends: the last `seq` returned, in the order the pages walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub order: Order,
    pub seq: i64,
}

impl Cursor {
    /// Opaque to callers (base64url of the order and the last seq); only Latchkey reads it.
    pub fn encode(&self) -> String {
        let tag = match self.order {
            Order::NewestFirst => 'n',
            Order::OldestFirst => 'o',
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1.{tag}.{}", self.seq))
    }

    pub fn decode(s: &str) -> Result<Cursor, AuditInputError> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| AuditInputError::BadCursor)?;
        let text = String::from_utf8(raw).map_err(|_| AuditInputError::BadCursor)?;
        let mut parts = text.splitn(3, '.');
        let (Some("v1"), Some(tag), Some(seq)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AuditInputError::BadCursor);
        };
        let order = match tag {
            "n" => Order::NewestFirst,
            "o" => Order::OldestFirst,
            _ => return Err(AuditInputError::BadCursor),
        };
        let seq = seq
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .ok_or(AuditInputError::BadCursor)?;
        Ok(Cursor { order, seq })
    }
}

/// A parsed `GET /config/{appId}/audit` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub order: Order,
    pub limit: u32,
    /// Continue after this seq (from `cursor`).
    pub after: Option<i64>,
    /// `format=`, which wins over the Accept header.
    pub format: Option<Format>,
    /// Whether `order` was given (streams default to oldest first, pages to newest first).
    pub order_given: bool,
    pub paging_given: bool,
}

/// An RFC 3339 time (`2024-05-01T00:00:00Z`, any offset), or a bare date meaning its midnight
/// UTC. Fractions below a microsecond are dropped (PostgreSQL stores microseconds).
pub fn parse_time(field: &'static str, raw: &str) -> Result<DateTime<Utc>, AuditInputError> {
    let raw = raw.trim();
    let t = match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|_| raw.len() == 10)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .ok_or(AuditInputError::BadTime { field })?,
    };
    Ok(DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t))
}

pub fn parse_feature(raw: &str) -> Result<String, AuditInputError> {
    raw.parse::<Feature>()
        .map(|f| f.as_str().to_owned())
        .map_err(|_| AuditInputError::BadFeature)
}

pub fn parse_keep_days(raw: i64) -> Result<i32, AuditInputError> {
    i32::try_from(raw)
        .ok()
        .filter(|d| (1..=MAX_KEEP_DAYS).contains(d))
        .ok_or(AuditInputError::BadRetention)
}

impl AuditQuery {
    /// Parses query-string pairs. Unknown, repeated or empty parameters are refused, so a typo
    /// never silently widens a compliance query.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<AuditQuery, AuditInputError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        const KNOWN: [&str; 10] = [
            "client", "actor", "action", "feature", "since", "until", "order", "limit", "cursor",
            "format",
        ];
        let mut seen: Vec<(&'static str, String)> = Vec::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            let Some(name) = KNOWN.iter().find(|n| **n == k) else {
                return Err(AuditInputError::UnknownParameter { name: k.to_owned() });
            };
            if seen.iter().any(|(n, _)| n == name) {
                return Err(AuditInputError::Repeated { name: k.to_owned() });
            }
            if v.trim().is_empty() {
                return Err(AuditInputError::Empty { name: k.to_owned() });
            }
            if v.contains('\0') {
                return Err(AuditInputError::Nul { name: k.to_owned() });
            }
            seen.push((name, v.to_owned()));
        }
        let get = |n: &str| seen.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        let filter = AuditFilter {
            client: get("client").map(str::to_owned),
            actor: get("actor").map(str::to_owned),
            action: get("action").map(str::to_owned),
            feature: get("feature").map(parse_feature).transpose()?,
            since: get("since").map(|t| parse_time("since", t)).transpose()?,
            until: get("until").map(|t| parse_time("until", t)).transpose()?,
        };
        filter.check_period()?;
        let order_param = get("order").map(str::parse::<Order>).transpose()?;
        let cursor = get("cursor").map(Cursor::decode).transpose()?;
        let order = match (order_param, cursor) {
            (Some(o), Some(c)) if o != c.order => return Err(AuditInputError::CursorOrder),
            (Some(o), _) => o,
            (None, Some(c)) => c.order,
            (None, None) => Order::NewestFirst,
        };
        let limit = match get("limit") {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or(AuditInputError::BadLimit)?,
        };
        Ok(AuditQuery {
            filter,
            order,
            limit,
            after: cursor.map(|c| c.seq),
            format: get("format").map(str::parse::<Format>).transpose()?,
            order_given: order_param.is_some() || cursor.is_some(),
            paging_given: get("limit").is_some() || cursor.is_some(),
        })
    }
}

/// The CSV columns, in order (RFC 4180: CRLF line ends, quotes only where needed).
pub const CSV_HEADER: &str = "seq,occurred_at,action,actor,actor_ip,target_client_id,features_before,features_after,changes,request_id,event_id,app_id,prev_hash,hash\r\n";

/// One CSV line. Feature lists are space separated; `changes` is its canonical JSON.
pub fn write_csv_row(out: &mut String, e: &AuditEvent, prev_hash: &[u8], hash: &[u8]) {
    let features = |f: &Option<Vec<String>>| f.as_deref().unwrap_or_default().join(" ");
    let mut changes = String::new();
    write_canonical(&mut changes, &e.changes);
    let fields: [&str; 14] = [
        &e.seq.to_string(),
        &format_time(&e.occurred_at),
        e.action.as_str(),
        &e.actor,
        e.actor_ip.as_deref().unwrap_or(""),
        e.target_client_id.as_deref().unwrap_or(""),
        &features(&e.features_before),
        &features(&e.features_after),
        &changes,
        &e.request_id,
        &e.event_id.to_string(),
        &e.app_id,
        &hex::encode(prev_hash),
        &hex::encode(hash),
    ];
    write_csv_line(out, &fields);
}

/// One CSV line (RFC 4180: comma separated, CRLF ended), each field quoted as it needs.
pub fn write_csv_line<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_csv_field(out, f.as_ref());
    }
    out.push_str("\r\n");
}

/// A field, quoted (with quotes doubled) when it holds a comma, quote or line break.
pub fn write_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Result<AuditQuery, AuditInputError> {
        AuditQuery::from_pairs(form_urlencoded::parse(s.as_bytes()))
    }

    #[test]
    fn defaults_are_newest_first_pages_of_100() {
        let a = q("").unwrap();
        assert_eq!(
            (a.order, a.limit, a.after, a.format),
            (Order::NewestFirst, 100, None, None)
        );
        assert_eq!(a.filter, AuditFilter::default());
        assert!(!a.order_given && !a.paging_given);
    }

    #[test]
    fn every_filter_parses() {
        let a = q("client=c1&actor=operator&action=client.update&feature=owner&since=2024-05-01T00:00:00Z&until=2024-06-01T02:00:00%2B02:00&order=oldest&limit=1000&format=csv").unwrap();
        assert_eq!(a.filter.client.as_deref(), Some("c1"));
        assert_eq!(a.filter.actor.as_deref(), Some("operator"));
        assert_eq!(a.filter.action.as_deref(), Some("client.update"));
        assert_eq!(a.filter.feature.as_deref(), Some("owner"));
        assert_eq!(
            a.filter.since.unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert_eq!(
            a.filter.until.unwrap().to_rfc3339(),
            "2024-06-01T00:00:00+00:00"
        );
        assert_eq!(
            (a.order, a.limit, a.format),
            (Order::OldestFirst, 1000, Some(Format::Csv))
        );
    }

    #[test]
    fn bad_input_gets_a_clear_message() {
        let msg = |s: &str| q(s).unwrap_err().to_string();
        assert_eq!(
            msg("since=yesterday"),
            "Invalid since: expected an RFC 3339 time such as 2024-05-01T00:00:00Z."
        );
        assert_eq!(
            msg("until=2024-13-01"),
            "Invalid until: expected an RFC 3339 time such as 2024-05-01T00:00:00Z."
        );
        assert_eq!(
            msg("since=2024-05-02&until=2024-05-01"),
            "since must be earlier than until."
        );
        assert_eq!(
            msg("since=2024-05-01&until=2024-05-01"),
            "since must be earlier than until."
        );
        assert_eq!(
            msg("limit=1001"),
            "Invalid limit: expected an integer from 1 to 1000."
        );
        assert_eq!(
            msg("limit=0"),
            "Invalid limit: expected an integer from 1 to 1000."
        );
        assert_eq!(
            msg("limit=ten"),
            "Invalid limit: expected an integer from 1 to 1000."
        );
        assert_eq!(msg("order=up"), "Invalid order: expected newest or oldest.");
        assert_eq!(
            msg("format=xml"),
            "Invalid format: expected json, ndjson or csv."
        );
        assert_eq!(msg("feature=root"), "Not a valid feature name.");
        assert_eq!(msg("clients=x"), "Unknown parameter: clients.");
        assert_eq!(
            msg("client=a&client=b"),
            "Parameter client given more than once."
        );
        assert_eq!(msg("client="), "Parameter client must not be empty.");
        assert_eq!(msg("cursor=bm9wZQ"), "Invalid cursor.");
        assert_eq!(msg("cursor=%%%"), "Invalid cursor.");
    }

    #[test]
    fn dates_alone_mean_midnight_utc() {
        assert_eq!(
            parse_time("since", "2024-05-01").unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert!(parse_time("since", "2024-5-1").is_err());
        assert_eq!(
            parse_time("since", "2024-05-01T00:00:00.123456789Z")
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T00:00:00.123456+00:00"
        );
    }

    #[test]
    fn cursors_round_trip_and_carry_their_order() {
        let c = Cursor {
            order: Order::OldestFirst,
            seq: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        let a = q(&format!("cursor={}", c.encode())).unwrap();
        assert_eq!((a.order, a.after), (Order::OldestFirst, Some(42)));
        assert!(a.paging_given && a.order_given);
        assert_eq!(
            q(&format!("cursor={}&order=newest", c.encode())).unwrap_err(),
            AuditInputError::CursorOrder
        );
        assert!(q(&format!("cursor={}&order=oldest", c.encode())).is_ok());
    }

    #[test]
    fn accept_picks_the_preferred_supported_type() {
        assert_eq!(Format::from_accept("application/x-ndjson"), Format::Ndjson);
        assert_eq!(Format::from_accept("text/csv"), Format::Csv);
        assert_eq!(Format::from_accept("*/*"), Format::Json);
        assert_eq!(Format::from_accept("text/html"), Format::Json);
        assert_eq!(
            Format::from_accept("application/json;q=0.5, text/csv"),
            Format::Csv
        );
        assert_eq!(
            Format::from_accept("text/csv;q=0.2, application/x-ndjson;q=0.9"),
            Format::Ndjson
        );
        assert_eq!(Format::from_accept("text/csv;q=0"), Format::Json);
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut s = String::new();
        for f in ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\rx", ""] {
            write_csv_field(&mut s, f);
            s.push('|');
        }
        assert_eq!(
            s,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\rx\"||"
        );
    }

    #[test]
    fn filter_matches_like_the_store() {
        let e = AuditEvent {
            app_id: "a".into(),
            seq: 3,
            event_id: uuid::Uuid::nil(),
            occurred_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            actor: "operator".into(),
            actor_ip: None,
            request_id: "r".into(),
            action: crate::domain::audit::AuditAction::ClientUpdate,
            target_client_id: Some("c".into()),
            features_before: Some(vec!["direct_access".into()]),
            features_after: Some(vec!["direct_access".into(), "owner".into()]),
            changes: json!({}),
            changes_text: None,
        };
        let f = |s: &str| q(s).unwrap().filter;
        assert!(f("feature=owner").matches(&e));
        assert!(
            !f("feature=direct_access").matches(&e),
            "held before and after: not changed"
        );
        assert!(f("client=c&actor=operator&action=client.update").matches(&e));
        assert!(!f("client=d").matches(&e));
        assert!(
            f("since=2023-11-14T22:13:20Z").matches(&e),
            "since is inclusive"
        );
        assert!(
            !f("until=2023-11-14T22:13:20Z").matches(&e),
            "until is exclusive"
        );
    }
}

//! The access decision: may this client read or write these attributes of a record?
//!
//! An identity backend asks this on every request. The features decide the base (which records,
//! read or write); an access schema for the (client, entity type, access type) then narrows the
//! attributes. The order of the checks is part of the contract, because the first failing one
//! is the `reason`:
//!
//! 1. `bad_credentials` (decided by the service, which does the I/O);
//! 2. `ip_not_allowed`, then `unknown_entity_type`;
//! 3. `no_feature` / `self_only`: the features do not grant this access to this record;
//! 4. per attribute: `unknown_attribute` (not in the type, or not a path), then
//!    `attribute_not_permitted` (outside the access schema).
//!
//! Refusals in 1–3 concern the whole request: every attribute is denied. In 4, `permitted` and
//! `denied` split the requested attributes, so a backend may serve the permitted part.

use super::wire_name::wire_names;
use std::net::IpAddr;

use serde::Serialize;

use super::entity_type::{AttributePath, EntityType, SchemaError};
use super::{AllowList, Feature, FeatureSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessType {
    Read,
    Write,
}

wire_names! { AccessType, refused: SchemaError = |_| SchemaError::InvalidAccessType; {
    Read => "read",
    Write => "write",
} }

/// Which record the backend is about to touch: any record, or the authenticated user's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordScope {
    Any,
    OwnRecord,
}

wire_names! { RecordScope, refused: SchemaError = |_| SchemaError::InvalidRecordScope; {
    Any => "any",
    OwnRecord => "self",
} }

/// Why a decision came out as it did: stable machine words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Ok,
    BadCredentials,
    IpNotAllowed,
    NoFeature,
    SelfOnly,
    AttributeNotPermitted,
    UnknownEntityType,
    UnknownAttribute,
}

// The same words as serde's `snake_case` (a test holds them together).
wire_names! { Reason {
    Ok => "ok",
    BadCredentials => "bad_credentials",
    IpNotAllowed => "ip_not_allowed",
    NoFeature => "no_feature",
    SelfOnly => "self_only",
    AttributeNotPermitted => "attribute_not_permitted",
    UnknownEntityType => "unknown_entity_type",
    UnknownAttribute => "unknown_attribute",
} }

/// The answer. `permitted` and `denied` hold the requested attributes exactly as the caller
/// wrote them (so it can match them), in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    pub permitted: Vec<String>,
    pub denied: Vec<String>,
    /// Whether a write through this client moves the record's `lastUpdated`: false for
    /// `metadata` clients. A property of the client, so it is reported for reads too; when the
    /// client could not be identified (`bad_credentials`) it is the default, true, so the answer
    /// reveals nothing about an unproven client.
    pub updates_last_updated: bool,
}

impl Decision {
    /// A refusal of the whole request: every attribute denied.
    pub fn refused(reason: Reason, requested: &[String], updates_last_updated: bool) -> Self {
        Self {
            allowed: false,
            reason,
            permitted: vec![],
            denied: requested.to_vec(),
            updates_last_updated,
        }
    }
}

/// What the features alone grant. `Err` is the reason they do not.
pub fn base_access(
    features: &FeatureSet,
    access: AccessType,
    record: RecordScope,
) -> Result<(), Reason> {
    let any_record = match access {
        AccessType::Read => {
            features.contains(Feature::Owner)
                || features.contains(Feature::DirectAccess)
                || features.contains(Feature::DirectReadAccess)
        }
        AccessType::Write => {
            features.contains(Feature::Owner) || features.contains(Feature::DirectAccess)
        }
    };
    // A login client reads and writes the signed-in user's own record, nothing else.
    let own_record = features.contains(Feature::LoginClient);
    match record {
        _ if any_record => Ok(()),
        RecordScope::OwnRecord if own_record => Ok(()),
        RecordScope::Any if own_record => Err(Reason::SelfOnly),
        _ => Err(Reason::NoFeature),
    }
}

/// `updatesLastUpdated` of an identified client.
pub fn updates_last_updated(features: &FeatureSet) -> bool {
    !features.contains(Feature::Metadata)
}

/// What the decision needs to know about an identified client.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    pub features: FeatureSet,
    pub allow_list: AllowList,
}

/// The backend's question.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub access: AccessType,
    pub record: RecordScope,
    /// Attribute paths as the backend wrote them.
    pub attributes: &'a [String],
}

/// Decides for an identified client (its secret was proven, or none was presented).
/// `source_ip`: the end caller's address, checked against the client's allow list when given.
/// `entity_type` is `None` when the application has no such type; `schema` is `None` when no
/// access schema restricts this client for this type and access type.
pub fn decide(
    client: &ClientFacts,
    source_ip: Option<IpAddr>,
    question: &Question<'_>,
    entity_type: Option<&EntityType>,
    schema: Option<&[AttributePath]>,
) -> Decision {
    let requested = question.attributes;
    let updates = updates_last_updated(&client.features);
    if source_ip.is_some_and(|ip| !client.allow_list.permits(ip)) {
        return Decision::refused(Reason::IpNotAllowed, requested, updates);
    }
    let Some(et) = entity_type else {
        return Decision::refused(Reason::UnknownEntityType, requested, updates);
    };
    if let Err(reason) = base_access(&client.features, question.access, question.record) {
        return Decision::refused(reason, requested, updates);
    }
    let mut permitted = Vec::new();
    let mut denied = Vec::new();
    let mut unknown = false;
    for raw in requested {
        let verdict = match AttributePath::parse(raw) {
            Ok(path) if et.contains(&path) => match schema {
                // Reserved attributes are in every schema.
                Some(list) if !path.is_reserved() && !list.iter().any(|s| s.covers(&path)) => {
                    Err(Reason::AttributeNotPermitted)
                }
                _ => Ok(()),
            },
            _ => Err(Reason::UnknownAttribute),
        };
        match verdict {
            Ok(()) => permitted.push(raw.clone()),
            Err(reason) => {
                unknown |= reason == Reason::UnknownAttribute;
                denied.push(raw.clone());
            }
        }
    }
    let reason = if unknown {
        Reason::UnknownAttribute
    } else if !denied.is_empty() {
        Reason::AttributeNotPermitted
    } else {
        Reason::Ok
    };
    Decision {
        allowed: reason == Reason::Ok,
        reason,
        permitted,
        denied,
        updates_last_updated: updates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entity_type::{normalize_schema, parse_attr_defs};
    use serde_json::json;

    fn user() -> EntityType {
        EntityType::new(
            "user".into(),
            parse_attr_defs(&json!([
                {"name": "email", "type": "string"},
                {"name": "givenName", "type": "string"},
                {"name": "birthday", "type": "date"},
                {"name": "primaryAddress", "type": "object", "attr_defs": [
                    {"name": "city", "type": "string"}, {"name": "zip", "type": "string"}
                ]},
                {"name": "interests", "type": "plural", "attr_defs": [{"name": "name", "type": "string"}]}
            ]))
            .unwrap(),
        )
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn schema(list: &[&str]) -> Vec<AttributePath> {
        normalize_schema(&user(), &strings(list)).unwrap()
    }

    fn features(list: &[&str]) -> FeatureSet {
        FeatureSet::from_stored(list)
    }

    /// A client allowed from 10.0.0.0/8 and 2001:db8::/32 only.
    fn client(list: &[&str]) -> ClientFacts {
        ClientFacts {
            features: features(list),
            allow_list: AllowList::parse(&["10.0.0.0/8", "2001:db8::/32"]).unwrap(),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn ask(
        c: &ClientFacts,
        source: Option<IpAddr>,
        access: AccessType,
        record: RecordScope,
        s: Option<&[AttributePath]>,
        attributes: &[String],
    ) -> Decision {
        let et = user();
        decide(
            c,
            source,
            &Question {
                access,
                record,
                attributes,
            },
            Some(&et),
            s,
        )
    }

    /// A read of any record from no particular address: the question most tests ask.
    fn read_any(c: &ClientFacts, s: Option<&[AttributePath]>, attributes: &[String]) -> Decision {
        ask(c, None, AccessType::Read, RecordScope::Any, s, attributes)
    }

    /// The feature sets a client may have: each alone, none, and combinations that matter.
    const SETS: [&[&str]; 9] = [
        &[],
        &["owner"],
        &["direct_access"],
        &["direct_read_access"],
        &["login_client"],
        &["access_issuer"],
        &["metadata"],
        &["direct_access", "metadata"],
        &["direct_read_access", "access_issuer"],
    ];

    /// The expected base outcome, written out from the rules rather than the code.
    fn expected_base(set: &[&str], access: AccessType, record: RecordScope) -> Result<(), Reason> {
        use AccessType::*;
        use RecordScope::*;
        let has = |f: &str| set.contains(&f);
        let read_any = has("owner") || has("direct_access") || has("direct_read_access");
        let write_any = has("owner") || has("direct_access");
        match (access, record) {
            (Read, Any) if read_any => Ok(()),
            (Write, Any) if write_any => Ok(()),
            (Read, OwnRecord) if read_any || has("login_client") => Ok(()),
            (Write, OwnRecord) if write_any || has("login_client") => Ok(()),
            (_, Any) if has("login_client") => Err(Reason::SelfOnly),
            _ => Err(Reason::NoFeature),
        }
    }

    #[test]
    fn base_matrix_spelled_out() {
        use AccessType::*;
        use RecordScope::*;
        type Row = (&'static [&'static str], [Result<(), Reason>; 4]);
        let no = Err(Reason::NoFeature);
        let table: [Row; 9] = [
            // (read any, read self, write any, write self)
            (&[], [no; 4]),
            (&["owner"], [Ok(()); 4]),
            (&["direct_access"], [Ok(()); 4]),
            (&["direct_read_access"], [Ok(()), Ok(()), no, no]),
            (
                &["login_client"],
                [Err(Reason::SelfOnly), Ok(()), Err(Reason::SelfOnly), Ok(())],
            ),
            (&["access_issuer"], [no; 4]),
            (&["metadata"], [no; 4]),
            (&["direct_access", "metadata"], [Ok(()); 4]),
            (
                &["direct_read_access", "access_issuer"],
                [Ok(()), Ok(()), no, no],
            ),
        ];
        for (set, expected) in table {
            let f = features(set);
            let got = [
                base_access(&f, Read, Any),
                base_access(&f, Read, OwnRecord),
                base_access(&f, Write, Any),
                base_access(&f, Write, OwnRecord),
            ];
            assert_eq!(got, expected, "{set:?}");
            for access in [Read, Write] {
                for record in [Any, OwnRecord] {
                    assert_eq!(
                        base_access(&f, access, record),
                        expected_base(set, access, record)
                    );
                }
            }
        }
    }

    /// Every feature set × read/write × any/self × without/with a schema × attributes inside /
    /// outside the schema × no source address / an allowed one / a refused one (IPv4 and IPv6).
    /// Credentials are proven before this function, by the service; the HTTP tests cover them.
    #[test]
    fn full_decision_matrix() {
        let restricting = schema(&["email", "primaryAddress"]);
        let sources = [
            (None, true),
            (ip("10.1.2.3"), true),
            (ip("2001:db8::7"), true),
            (ip("192.168.1.1"), false),
            (ip("::1"), false),
        ];
        let mut cases = 0;
        for set in SETS {
            let c = client(set);
            let updates = !set.contains(&"metadata");
            for access in [AccessType::Read, AccessType::Write] {
                for record in [RecordScope::Any, RecordScope::OwnRecord] {
                    for with_schema in [false, true] {
                        for (asked, inside) in [
                            (strings(&["email", "primaryAddress.city", "id"]), true),
                            (strings(&["email", "birthday"]), false),
                        ] {
                            for (source, ip_ok) in sources {
                                cases += 1;
                                let s = with_schema.then_some(restricting.as_slice());
                                let d = ask(&c, source, access, record, s, &asked);
                                let label = format!(
                                    "{set:?} {access} {record:?} schema={with_schema} {asked:?} {source:?}"
                                );
                                assert_eq!(d.updates_last_updated, updates, "{label}");
                                if !ip_ok {
                                    assert_eq!(
                                        d,
                                        Decision::refused(Reason::IpNotAllowed, &asked, updates),
                                        "{label}"
                                    );
                                    continue;
                                }
                                match expected_base(set, access, record) {
                                    Err(reason) => {
                                        assert_eq!(
                                            d,
                                            Decision::refused(reason, &asked, updates),
                                            "{label}"
                                        );
                                    }
                                    Ok(()) if !with_schema || inside => {
                                        assert!(d.allowed, "{label}");
                                        assert_eq!(d.reason, Reason::Ok, "{label}");
                                        assert_eq!(d.permitted, asked, "{label}");
                                        assert!(d.denied.is_empty(), "{label}");
                                    }
                                    Ok(()) => {
                                        assert!(!d.allowed, "{label}");
                                        assert_eq!(
                                            d.reason,
                                            Reason::AttributeNotPermitted,
                                            "{label}"
                                        );
                                        assert_eq!(d.permitted, strings(&["email"]), "{label}");
                                        assert_eq!(d.denied, strings(&["birthday"]), "{label}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 9 * 2 * 2 * 2 * 2 * 5);
    }

    #[test]
    fn mapped_ipv4_sources_match_ipv4_blocks() {
        let d = ask(
            &client(&["owner"]),
            ip("::ffff:10.0.0.1"),
            AccessType::Read,
            RecordScope::Any,
            None,
            &[],
        );
        assert!(d.allowed);
    }

    #[test]
    fn ip_is_checked_before_the_entity_type_and_the_features() {
        let c = client(&[]);
        let q = Question {
            access: AccessType::Read,
            record: RecordScope::Any,
            attributes: &[],
        };
        assert_eq!(
            decide(&c, ip("8.8.8.8"), &q, None, None).reason,
            Reason::IpNotAllowed
        );
        assert_eq!(
            decide(&c, ip("10.0.0.1"), &q, None, None).reason,
            Reason::UnknownEntityType
        );
    }

    #[test]
    fn unknown_entity_type_refuses_everything() {
        let asked = strings(&["email"]);
        let q = Question {
            access: AccessType::Read,
            record: RecordScope::Any,
            attributes: &asked,
        };
        let d = decide(&client(&["owner"]), None, &q, None, None);
        assert_eq!(
            d,
            Decision::refused(Reason::UnknownEntityType, &asked, true)
        );
        // The type is checked before the features.
        let d = decide(&client(&[]), None, &q, None, None);
        assert_eq!(d.reason, Reason::UnknownEntityType);
    }

    #[test]
    fn unknown_attributes_are_denied_and_win_over_schema_refusals() {
        let s = schema(&["email"]);
        let asked = strings(&["email", "birthday", "shoeSize", "a..b"]);
        let c = client(&["direct_access"]);
        let d = read_any(&c, Some(&s), &asked);
        assert!(!d.allowed);
        assert_eq!(d.reason, Reason::UnknownAttribute);
        assert_eq!(d.permitted, strings(&["email"]));
        assert_eq!(d.denied, strings(&["birthday", "shoeSize", "a..b"]));
        // Without a schema, only the unknown ones are denied.
        let d = read_any(&c, None, &asked);
        assert_eq!(d.reason, Reason::UnknownAttribute);
        assert_eq!(d.permitted, strings(&["email", "birthday"]));
        assert_eq!(d.denied, strings(&["shoeSize", "a..b"]));
    }

    #[test]
    fn features_are_checked_before_attributes() {
        let asked = strings(&["shoeSize"]);
        let d = ask(
            &client(&["direct_read_access"]),
            None,
            AccessType::Write,
            RecordScope::Any,
            None,
            &asked,
        );
        assert_eq!(d.reason, Reason::NoFeature);
    }

    #[test]
    fn every_spelling_and_nesting_is_matched_against_the_schema() {
        let s = schema(&["/primaryAddress/city", "interests"]);
        let asked = strings(&[
            "primaryAddress.city",
            "/primaryAddress.city",
            "/primaryAddress/city",
            "interests.name",
            "/interests",
            "primaryAddress.zip",
            "primaryAddress",
        ]);
        let d = ask(
            &client(&["owner"]),
            None,
            AccessType::Write,
            RecordScope::Any,
            Some(&s),
            &asked,
        );
        assert_eq!(d.permitted, asked[..5].to_vec());
        assert_eq!(
            d.denied,
            strings(&["primaryAddress.zip", "primaryAddress"]),
            "a child does not grant its parent"
        );
        assert_eq!(d.reason, Reason::AttributeNotPermitted);
    }

    #[test]
    fn reserved_attributes_are_always_permitted() {
        let s = schema(&[]);
        let asked = strings(&["id", "uuid", "created", "/lastUpdated"]);
        let c = client(&["direct_read_access"]);
        let d = read_any(&c, Some(&s), &asked);
        assert!(d.allowed);
        assert_eq!(d.permitted, asked);
        // Even against a stored list that lacks them.
        let d = read_any(&c, Some(&[]), &asked);
        assert!(d.allowed);
    }

    #[test]
    fn an_empty_question_is_the_base_answer() {
        let d = ask(
            &client(&["login_client"]),
            None,
            AccessType::Write,
            RecordScope::OwnRecord,
            Some(&schema(&[])),
            &[],
        );
        assert_eq!(
            d,
            Decision {
                allowed: true,
                reason: Reason::Ok,
                permitted: vec![],
                denied: vec![],
                updates_last_updated: true
            }
        );
    }

    #[test]
    fn answers_serialise_with_stable_words() {
        let d = Decision::refused(Reason::AttributeNotPermitted, &strings(&["a"]), false);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"allowed": false, "reason": "attribute_not_permitted", "permitted": [], "denied": ["a"], "updatesLastUpdated": false})
        );
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), json!(r.as_str()));
        }
    }

    #[test]
    fn parses_access_types_and_record_scopes() {
        assert_eq!("read".parse::<AccessType>(), Ok(AccessType::Read));
        assert_eq!("write".parse::<AccessType>(), Ok(AccessType::Write));
        assert_eq!(
            "Read".parse::<AccessType>(),
            Err(SchemaError::InvalidAccessType)
        );
        assert_eq!(
            "read_with_token".parse::<AccessType>(),
            Err(SchemaError::InvalidAccessType)
        );
        assert_eq!("any".parse::<RecordScope>(), Ok(RecordScope::Any));
        assert_eq!("self".parse::<RecordScope>(), Ok(RecordScope::OwnRecord));
        assert_eq!(
            "own".parse::<RecordScope>(),
            Err(SchemaError::InvalidRecordScope)
        );
    }
}

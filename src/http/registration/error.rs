//! The Registration API's one error mapping: every failure becomes
//! `{"stat":"error","code","error","error_description","request_id"}` (plus `argument_name`
//! when one argument is at fault), answered with HTTP 200 as the vendor does.

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::entity_type::SchemaError;
use crate::domain::settings::SettingError;
use crate::domain::{Field, ValidationError};
use crate::service::{
    AuthError, ClientsError, EntityTypesError, ServiceError, SettingsError, SignatureError,
};

/// The vendor's generic permission text (allow list refusals, missing `owner`).
pub const PERMISSION_TEXT: &str = "the provided client does not have authorization for this action";

/// How a call names the things the service reports on, where the Registration API's names
/// differ from the Config API's (`description` for `name`, `whitelist` for `ipWhitelist`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgNames {
    /// The argument that named the target client (`for_client_id`, `client_id_for_deletion`).
    pub target: &'static str,
    /// The argument that carried feature names (`features`, `has_features`).
    pub features: &'static str,
    /// The arguments that carried a setting key and its value (`key`/`value`; `items`, `keys`).
    pub setting_key: &'static str,
    pub setting_value: &'static str,
    /// The argument that carried attribute definitions (`attr_defs`, or `attr_def`).
    pub attr_defs: &'static str,
    /// The argument a "still used by an access schema" refusal is about.
    pub in_use: &'static str,
}

impl ArgNames {
    pub const DEFAULT: ArgNames = ArgNames {
        target: "for_client_id",
        features: "features",
        setting_key: "key",
        setting_value: "value",
        attr_defs: "attr_defs",
        in_use: "type_name",
    };

    pub const fn attr_defs(self, attr_defs: &'static str) -> Self {
        Self { attr_defs, ..self }
    }

    pub const fn in_use(self, in_use: &'static str) -> Self {
        Self { in_use, ..self }
    }

    pub const fn target(self, target: &'static str) -> Self {
        Self { target, ..self }
    }

    pub const fn features(self, features: &'static str) -> Self {
        Self { features, ..self }
    }

    pub const fn settings(self, key: &'static str, value: &'static str) -> Self {
        Self {
            setting_key: key,
            setting_value: value,
            ..self
        }
    }

    /// The Registration API's name of a field the service reports on: the one place the
    /// surface names `Field`s.
    fn of_field(&self, field: Field) -> &'static str {
        match field {
            Field::Name => "description",
            Field::IpWhitelist => "whitelist",
            Field::Features => self.features,
            Field::Region => "region",
            Field::Consistency => "consistency",
            Field::HoursToLive => "hours_to_live",
            Field::Text => "text",
            Field::Wire(name) => name,
        }
    }
}

impl Default for ArgNames {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Every way a Registration API call can fail.
#[derive(Debug)]
pub enum RegError {
    /// A use case refused; `names` says how this call names its arguments.
    /// (Boxed: this is the rare path, and it keeps every `Result<_, RegError>` small.)
    Service {
        error: Box<ServiceError>,
        names: Box<ArgNames>,
    },
    /// A client use case's own refusal (its shared ones arrive as `Service`). None of them is
    /// about an argument, so no names.
    Clients(Box<ClientsError>),
    /// A setting key or value refused; `names` says which arguments carried them.
    Setting {
        error: Box<SettingError>,
        names: Box<ArgNames>,
    },
    /// An entity type change's own refusal; `names` says which argument a refusal is about.
    EntityTypes {
        error: Box<EntityTypesError>,
        names: Box<ArgNames>,
    },
    Auth(AuthError),
    /// A `janrain-signed` request was refused.
    Signature(SignatureError),
    /// An `Authorization` scheme Latchkey does not take (`Signature …`).
    AuthMethod {
        scheme: String,
    },
    Missing(&'static str),
    Invalid {
        argument: String,
        reason: String,
    },
    /// A parameter given twice, or under two names for the same thing.
    Duplicate {
        argument: String,
        alias: Option<&'static str>,
    },
    /// `application_id` names an application the caller cannot use.
    UnknownApplication,
    /// The request as a whole cannot be read (body too large, not form-encoded, wrong method).
    BadRequest(&'static str),
    /// The body did not arrive in time: the envelope of `BadRequest`, with HTTP 408.
    BodyTimeout,
}

impl RegError {
    pub fn invalid(argument: &str, reason: &str) -> Self {
        RegError::Invalid {
            argument: argument.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// For `map_err`: a use case's refusal from a call with these argument names.
    pub fn with<E: Refused>(names: ArgNames) -> impl FnOnce(E) -> RegError {
        move |error| error.named(names)
    }
}

/// A use case's refusal, from the shared `ServiceError` or an area's own enum, as this surface
/// receives it: an area's shared refusals go to `Service` (mapped once, by [`service`]), its
/// own to the area's variant.
pub trait Refused {
    fn named(self, names: ArgNames) -> RegError;
}

impl Refused for ServiceError {
    fn named(self, names: ArgNames) -> RegError {
        RegError::Service {
            error: Box::new(self),
            names: Box::new(names),
        }
    }
}

impl Refused for ClientsError {
    fn named(self, names: ArgNames) -> RegError {
        match self {
            ClientsError::Service(e) => e.named(names),
            own => RegError::Clients(Box::new(own)),
        }
    }
}

impl Refused for SettingsError {
    fn named(self, names: ArgNames) -> RegError {
        match self {
            SettingsError::Service(e) => e.named(names),
            SettingsError::Invalid(e) => RegError::Setting {
                error: Box::new(e),
                names: Box::new(names),
            },
        }
    }
}

impl Refused for EntityTypesError {
    fn named(self, names: ArgNames) -> RegError {
        match self {
            EntityTypesError::Service(e) => e.named(names),
            own => RegError::EntityTypes {
                error: Box::new(own),
                names: Box::new(names),
            },
        }
    }
}

/// `?` on any use case's refusal, with the default argument names.
impl<E: Refused> From<E> for RegError {
    fn from(error: E) -> Self {
        error.named(ArgNames::DEFAULT)
    }
}

impl From<AuthError> for RegError {
    fn from(e: AuthError) -> Self {
        RegError::Auth(e)
    }
}

/// An error as the vendor writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub code: u16,
    pub error: &'static str,
    pub description: String,
    pub argument: Option<String>,
}

fn missing(argument: &str) -> Envelope {
    Envelope {
        code: 100,
        error: "missing_argument",
        description: format!("missing arguments: {argument}"),
        argument: Some(argument.to_owned()),
    }
}

/// `<arg> was not valid for the following reason: <reason>`, the vendor's invalid_argument text.
fn invalid(argument: &str, reason: &str) -> Envelope {
    Envelope {
        code: 200,
        error: "invalid_argument",
        description: format!("{argument} was not valid for the following reason: {reason}"),
        argument: Some(argument.to_owned()),
    }
}

/// An invalid argument whose description is a rule's own text (the feature rules of spec §1
/// read the same on both surfaces).
fn invalid_verbatim(argument: &str, description: String) -> Envelope {
    Envelope {
        code: 200,
        error: "invalid_argument",
        description,
        argument: Some(argument.to_owned()),
    }
}

fn permission(description: String) -> Envelope {
    Envelope {
        code: 403,
        error: "client_permission_error",
        description,
        argument: None,
    }
}

fn plain(code: u16, error: &'static str, description: &str) -> Envelope {
    Envelope {
        code,
        error,
        description: description.to_owned(),
        argument: None,
    }
}

const CREDENTIALS_TEXT: &str = "client_id and client_secret are missing or not valid";
const UNKNOWN_APP_TEXT: &str = "application_id does not name an application of the caller";
const UNAVAILABLE_TEXT: &str = "the service is unavailable, try again later";
const INTERNAL_TEXT: &str = "unexpected internal error";

fn validation(v: &ValidationError, names: &ArgNames) -> Envelope {
    let argument = names.of_field(v.field());
    match v {
        ValidationError::MissingField { .. } => missing(argument),
        ValidationError::InvalidCidr { entry } => {
            invalid(argument, &format!("invalid cidr address: {entry}"))
        }
        ValidationError::InvalidFeature { .. } | ValidationError::LoginClientExclusive => {
            invalid_verbatim(argument, v.to_string())
        }
        _ => invalid(argument, &v.to_string()),
    }
}

/// The code table of spec §4 applied to each use-case error. Rules about *what* a value is
/// are invalid arguments (200); rules about *who* may do something are permission errors (403)
/// carrying the rule's text; a duplicate name is the vendor's unique_violation (361).
fn service(e: &ServiceError, names: &ArgNames) -> Envelope {
    use ServiceError::*;
    match e {
        Invalid(v) => validation(v, names),
        Forbidden => permission(PERMISSION_TEXT.to_owned()),
        ClientNotFound => invalid(names.target, &format!("{} is not a valid id", names.target)),
        AppNotFound => plain(221, "unknown_application", UNKNOWN_APP_TEXT),
        Unauthenticated => plain(402, "invalid_client_credentials", CREDENTIALS_TEXT),
        Unavailable => plain(500, "unexpected_error", UNAVAILABLE_TEXT),
        Internal(_) => plain(500, "unexpected_error", INTERNAL_TEXT),
        Schema(s) => schema(s, names),
        EntityTypeNotFound { name } => plain(
            222,
            "unknown_entity_type",
            &format!("entity type does not exist: {name}"),
        ),
        // The audit log has no Registration API calls; kept total for safety.
        AuditInput(_) => plain(200, "invalid_argument", &e.to_string()),
        AuditChainDamaged { .. } => plain(500, "unexpected_error", INTERNAL_TEXT),
        // As on the Config API (400 there): the request asks for what this server is not
        // configured for. No Registration call switches the options; kept total.
        SealingKeyMissing => plain(200, "invalid_argument", &e.to_string()),
        // Minting or showing a sealed secret on a server without the key: the server is at
        // fault (500 on the Config API too).
        SealingKeyUnavailable => plain(500, "unexpected_error", INTERNAL_TEXT),
        // Audit evidence has no Registration API calls; kept total for safety.
        ProofInput(_) => plain(200, "invalid_argument", &e.to_string()),
        AuditTreeIncomplete | NoCheckpointYet | CheckpointKeyMissing | AuditHold { .. } => {
            plain(500, "unexpected_error", &e.to_string())
        }
        // Pruning is the operator's (`latchkey audit prune`); no Registration API call makes
        // this. Kept total for safety.
        SinksOwe { .. } => plain(200, "invalid_argument", &e.to_string()),
    }
}

/// The vendor's entity_type_exists (232) for a taken name; a change an access schema depends on
/// is an invalid argument: the attribute's, or the one that named the type.
fn entity_types(e: &EntityTypesError, names: &ArgNames) -> Envelope {
    match e {
        EntityTypesError::Service(e) => service(e, names),
        EntityTypesError::Exists { .. } => plain(232, "entity_type_exists", &e.to_string()),
        EntityTypesError::AttributeInUse { .. } => invalid("attribute_name", &e.to_string()),
        EntityTypesError::InUse { .. } => invalid(names.in_use, &e.to_string()),
    }
}

/// A setting refused: an invalid argument, the key's or the value's as the rule is about.
fn setting(s: &SettingError, names: &ArgNames) -> Envelope {
    let argument = if s.is_about_key() {
        names.setting_key
    } else {
        names.setting_value
    };
    invalid(argument, &s.to_string())
}

/// The client rules: who may do something is a permission error (403) carrying the rule's
/// text, a taken name the vendor's unique_violation (361).
fn clients(e: &ClientsError) -> Envelope {
    match e {
        ClientsError::Service(e) => service(e, &ArgNames::DEFAULT),
        ClientsError::MetadataOperatorOnly { .. }
        | ClientsError::MetadataClientOperatorOnly { .. }
        | ClientsError::OwnerSelfRemoval
        | ClientsError::OwnerRemovalOperatorOnly { .. }
        | ClientsError::OwnerUndeletable => permission(e.to_string()),
        ClientsError::DuplicateName(_) => plain(361, "unique_violation", &e.to_string()),
        // No Registration call sends a version to compare (`If-Match` is the Config API's and
        // the console's), so this cannot arrive; the table stays total.
        ClientsError::PreconditionFailed => plain(500, "unexpected_error", INTERNAL_TEXT),
    }
}

/// The vendor's entity codes (222/223/232/233/234) for the schema rules.
fn schema(s: &SchemaError, names: &ArgNames) -> Envelope {
    match s {
        SchemaError::InvalidAttrDef { reason } => invalid(names.attr_defs, reason),
        SchemaError::InvalidAccessType => invalid("access_type", &s.to_string()),
        SchemaError::ReservedAttribute { .. } => plain(234, "reserved_attribute", &s.to_string()),
        SchemaError::DuplicateAttribute { .. } => plain(233, "attribute_exists", &s.to_string()),
        // The vendor's own wording for this code.
        SchemaError::UnknownAttribute { path } => plain(
            223,
            "unknown_attribute",
            &format!("attribute does not exist: {path}"),
        ),
        // InvalidTypeName, and those only the Config API or the access decision produce.
        _ => invalid("type_name", &s.to_string()),
    }
}

fn auth(e: &AuthError) -> Envelope {
    match e {
        AuthError::BadCredentials => plain(402, "invalid_client_credentials", CREDENTIALS_TEXT),
        AuthError::IpNotAllowed => permission(PERMISSION_TEXT.to_owned()),
        AuthError::Unavailable => plain(500, "unexpected_error", UNAVAILABLE_TEXT),
        // The vendor's code for "too many calls": 510 api_limit_error.
        AuthError::RateLimited { retry_after_secs } => plain(
            510,
            "api_limit_error",
            &format!(
                "too many failed authentication attempts; retry in {retry_after_secs} seconds"
            ),
        ),
        AuthError::Internal => plain(500, "unexpected_error", INTERNAL_TEXT),
    }
}

fn auth_method(description: String) -> Envelope {
    Envelope {
        code: 205,
        error: "invalid_auth_method",
        description,
        argument: None,
    }
}

/// Refused signed requests. Whatever concerns the signature itself is 402
/// invalid_client_credentials (the vendor's code for a failed client authentication), with a
/// description saying what to fix where that reveals nothing about the secret.
fn signature(e: &SignatureError) -> Envelope {
    let credentials = |description: String| Envelope {
        code: 402,
        error: "invalid_client_credentials",
        description,
        argument: None,
    };
    match e {
        SignatureError::Auth(a) => auth(a),
        SignatureError::NotEnabled => auth_method(
            "signed requests are not enabled for this application: its client secrets are \
             stored only as hashes, so a signature cannot be checked; use HTTP Basic \
             authentication or the client_id and client_secret parameters"
                .to_owned(),
        ),
        SignatureError::MissingDate | SignatureError::BadDate => credentials(
            "a signed request needs a Date header of the form YYYY-MM-DD HH:MM:SS (UTC)".into(),
        ),
        SignatureError::Stale {
            skew_secs,
            window_secs,
        } => credentials(format!(
            "the Date header is {skew_secs} seconds from the server's clock (UTC); signed \
             requests must be within {window_secs} seconds"
        )),
        SignatureError::Replayed => credentials(
            "this signature was already used: a signed request cannot be replayed; sign each \
             request anew"
                .into(),
        ),
        SignatureError::Unsealed => credentials(
            "this client's secret was created before signed requests were enabled for its \
             application, so it cannot be checked yet: make one call with HTTP Basic \
             authentication or the client_id and client_secret parameters (or reset the \
             secret), then sign requests"
                .into(),
        ),
    }
}

pub fn envelope(e: &RegError) -> Envelope {
    match e {
        RegError::Service { error, names } => service(error, names),
        RegError::Clients(error) => clients(error),
        RegError::Setting { error, names } => setting(error, names),
        RegError::EntityTypes { error, names } => entity_types(error, names),
        RegError::Auth(a) => auth(a),
        RegError::Signature(s) => signature(s),
        RegError::AuthMethod { scheme } => auth_method(format!(
            "the {scheme} authorization scheme is not supported; use HTTP Basic \
             authentication or the client_id and client_secret parameters"
        )),
        RegError::Missing(argument) => missing(argument),
        RegError::Invalid { argument, reason } => invalid(argument, reason),
        RegError::Duplicate { argument, alias } => Envelope {
            code: 201,
            error: "duplicate_argument",
            description: match alias {
                None => format!("{argument} was given more than once"),
                Some(alias) => {
                    format!("{argument} and {alias} are the same argument; give only one")
                }
            },
            argument: Some(argument.clone()),
        },
        RegError::UnknownApplication => plain(221, "unknown_application", UNKNOWN_APP_TEXT),
        RegError::BadRequest(description) => plain(200, "invalid_argument", description),
        RegError::BodyTimeout => plain(
            200,
            "invalid_argument",
            "the request body was not received in time",
        ),
    }
}

/// The Registration API's error answer (HTTP 200, as the vendor's).
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope<'a> {
    #[schema(schema_with = crate::http::schemas::stat_error)]
    stat: &'static str,
    /// The vendor's code table: 100 missing_argument, 200 invalid_argument, 201
    /// duplicate_argument, 205 invalid_auth_method, 221 unknown_application, 222
    /// unknown_entity_type, 223 unknown_attribute, 232 entity_type_exists, 233 attribute_exists,
    /// 234 reserved_attribute, 361 unique_violation, 402 invalid_client_credentials, 403
    /// client_permission_error, 500 unexpected_error, 510 api_limit_error.
    #[schema(schema_with = crate::http::schemas::registration_code)]
    code: u16,
    error: &'static str,
    error_description: &'a str,
    request_id: &'a str,
    /// The argument at fault (codes 100, 200, 201).
    #[serde(skip_serializing_if = "Option::is_none")]
    argument_name: Option<&'a str>,
}

/// The response for an error: HTTP 200 and the vendor's envelope.
pub fn respond(e: &RegError, request_id: &str) -> HttpResponse {
    let env = envelope(e);
    if env.code == 500 {
        tracing::error!(error = ?e, "registration call failed");
    }
    let mut res = HttpResponse::Ok().json(ErrorEnvelope {
        stat: "error",
        code: env.code,
        error: env.error,
        error_description: &env.description,
        request_id,
        argument_name: env.argument.as_deref(),
    });
    // HTTP 200 as every answer of this surface, with the outage's Retry-After.
    if matches!(e, RegError::Auth(AuthError::Unavailable))
        || matches!(e, RegError::Service { error, .. } if matches!(**error, ServiceError::Unavailable))
    {
        crate::http::retry_after(&mut res);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(e: ServiceError, names: ArgNames) -> Envelope {
        envelope(&RegError::Service {
            error: Box::new(e),
            names: Box::new(names),
        })
    }

    #[test]
    fn cidr_text_is_the_vendors() {
        let env = of(
            ServiceError::Invalid(ValidationError::InvalidCidr {
                entry: "10.0.0.1".into(),
            }),
            ArgNames::DEFAULT,
        );
        assert_eq!(env.code, 200);
        assert_eq!(env.argument.as_deref(), Some("whitelist"));
        assert_eq!(
            env.description,
            "whitelist was not valid for the following reason: invalid cidr address: 10.0.0.1"
        );
    }

    #[test]
    fn unknown_target_is_the_vendors_delete_example() {
        let env = of(
            ServiceError::ClientNotFound,
            ArgNames::DEFAULT.target("client_id_for_deletion"),
        );
        assert_eq!(
            (env.code, env.error, env.description.as_str(), env.argument.as_deref()),
            (
                200,
                "invalid_argument",
                "client_id_for_deletion was not valid for the following reason: client_id_for_deletion is not a valid id",
                Some("client_id_for_deletion")
            )
        );
    }

    #[test]
    fn field_names_are_translated() {
        let env = of(
            ServiceError::Invalid(ValidationError::NameNotSupplied),
            ArgNames::DEFAULT,
        );
        assert_eq!(
            env.description,
            "description was not valid for the following reason: Name not supplied"
        );
        let env = of(
            ServiceError::Invalid(ValidationError::InvalidFeature { name: "x".into() }),
            ArgNames::DEFAULT.features("has_features"),
        );
        assert_eq!(
            (env.argument.as_deref(), env.description.as_str()),
            (Some("has_features"), "Not a valid feature name.")
        );
        let env = envelope(
            &SettingsError::from(SettingError::EmptyKey)
                .named(ArgNames::DEFAULT.settings("items", "items")),
        );
        assert_eq!(env.argument.as_deref(), Some("items"));
    }

    #[test]
    fn who_rules_are_permission_errors_with_their_text() {
        let env = envelope(&ClientsError::OwnerSelfRemoval.into());
        assert_eq!(
            (env.code, env.error, env.description.as_str(), env.argument),
            (
                403,
                "client_permission_error",
                "Owner feature cannot be removed from the client making the call.",
                None
            )
        );
        assert_eq!(
            of(ServiceError::Forbidden, ArgNames::DEFAULT).description,
            PERMISSION_TEXT
        );
    }

    #[test]
    fn duplicates_are_unique_violations() {
        let env = envelope(&RegError::from(ClientsError::from(
            crate::service::DuplicateClientName { name: "a".into() },
        )));
        assert_eq!(
            (env.code, env.description.as_str()),
            (361, "API client a already exists.")
        );
    }
}

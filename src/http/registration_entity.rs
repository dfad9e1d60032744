//! Registration API: the `entityType.*` calls (form-encoded RPC at the server root, answered
//! with HTTP 200 and `{"stat": …}`), over the same use cases as the Config API's
//! `/config/{appId}/entityTypes…` and `…/accessSchemas…`.
//!
//! The shared Registration adapter (parameter parsing, authentication, error envelope) was
//! written in parallel on another branch. Until both are merged, the small stand-ins it needs
//! live in [`local`] at the bottom of this file, with the same names and texts (`Call`,
//! `Params`, `RegError`, `register`, `Reply`); switching over means deleting `local`, importing
//! those from `crate::http::registration`, and giving the shared `RegError` a way to carry the
//! entity codes 222/223/232/233/234 (see [`entity_error`]).

use serde_json::{json, Value};

use self::local::{register, reply, Call, RegError, Reply};
use crate::domain::entity_type::{AttrDef, SchemaError};
use crate::service::{added_reserved_notice, ServiceError};

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    register(cfg, "/entityType", entity_type);
    register(cfg, "/entityType.list", list);
    register(cfg, "/entityType.create", create);
    register(cfg, "/entityType.delete", delete);
    register(cfg, "/entityType.addAttribute", add_attribute);
    register(cfg, "/entityType.removeAttribute", remove_attribute);
    register(cfg, "/entityType.setAccessSchema", set_access_schema);
    register(cfg, "/entityType.getAccessSchema", get_access_schema);
}

/// The vendor's `schema` object. Built as a JSON value, so keys come out sorted — which is the
/// order of the vendor's own examples (`attr_defs` before `name`; `description`, `name`, `type`).
fn schema(name: &str, attr_defs: Vec<AttrDef>) -> Value {
    json!({ "name": name, "attr_defs": attr_defs })
}

/// How this call names the arguments an entity error can be about.
#[derive(Clone, Copy)]
struct Args {
    /// `attr_defs` (create) or `attr_def` (addAttribute).
    attr_defs: &'static str,
    /// The argument a schema-in-use refusal is about.
    in_use: &'static str,
}

const ARGS: Args = Args {
    attr_defs: "attr_defs",
    in_use: "type_name",
};

/// The vendor's code table for the entity errors; everything else goes to the shared mapping.
fn entity_error(args: Args) -> impl FnOnce(ServiceError) -> RegError {
    move |e| {
        let coded = |code, error, description: String| RegError::Coded {
            code,
            error,
            description,
        };
        match e {
            ServiceError::Schema(s) => match s {
                SchemaError::InvalidTypeName => RegError::invalid("type_name", &s.to_string()),
                SchemaError::InvalidAttrDef { reason } => {
                    RegError::invalid(args.attr_defs, &reason)
                }
                SchemaError::InvalidAccessType => RegError::invalid("access_type", &s.to_string()),
                SchemaError::ReservedAttribute { .. } => {
                    coded(234, "reserved_attribute", s.to_string())
                }
                SchemaError::DuplicateAttribute { .. } => {
                    coded(233, "attribute_exists", s.to_string())
                }
                // The vendor's own wording for this code.
                SchemaError::UnknownAttribute { path } => coded(
                    223,
                    "unknown_attribute",
                    format!("attribute does not exist: {path}"),
                ),
                // Not produced by these calls (Config API and access decision only).
                SchemaError::NameChange
                | SchemaError::InvalidIpAddress
                | SchemaError::InvalidRecordScope => RegError::invalid("type_name", &s.to_string()),
            },
            ServiceError::EntityTypeNotFound { name } => coded(
                222,
                "unknown_entity_type",
                format!("entity type does not exist: {name}"),
            ),
            e @ ServiceError::EntityTypeExists { .. } => {
                coded(232, "entity_type_exists", e.to_string())
            }
            e @ ServiceError::AttributeInUse { .. } => {
                RegError::invalid("attribute_name", &e.to_string())
            }
            e @ ServiceError::EntityTypeInUse { .. } => {
                RegError::invalid(args.in_use, &e.to_string())
            }
            other => RegError::from(other),
        }
    }
}

/// The JSON text of a parameter that must be there.
fn required_json(call: &Call, name: &'static str) -> Result<Value, RegError> {
    call.params.json(name)?.ok_or(RegError::Missing(name))
}

/// `type_name` → the type with every attribute. Owner only.
async fn entity_type(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let et = call
        .service
        .get_entity_type(&call.ctx, &call.app_id, name)
        .await
        .map_err(entity_error(ARGS))?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// The names of the application's types. Owner only.
async fn list(call: Call) -> Reply {
    let types = call
        .service
        .list_entity_types(&call.ctx, &call.app_id)
        .await
        .map_err(entity_error(ARGS))?;
    reply([(
        "results",
        types.into_iter().map(|t| Value::String(t.name)).collect(),
    )])
}

/// `type_name`, `attr_defs` (JSON list) → the new type. Owner only.
async fn create(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let attr_defs = required_json(&call, "attr_defs")?;
    let et = call
        .service
        .create_entity_type(&call.ctx, &call.app_id, name, &attr_defs)
        .await
        .map_err(entity_error(ARGS))?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// `type_name`. Refused while an access schema names the type. Owner only.
async fn delete(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    call.service
        .delete_entity_type(&call.ctx, &call.app_id, name)
        .await
        .map_err(entity_error(ARGS))?;
    reply([])
}

/// `type_name`, `attr_def` (one JSON definition) → the whole type. Owner only.
async fn add_attribute(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let attr_def = required_json(&call, "attr_def")?;
    let et = call
        .service
        .add_attribute(&call.ctx, &call.app_id, name, &attr_def)
        .await
        .map_err(entity_error(Args {
            attr_defs: "attr_def",
            ..ARGS
        }))?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// `type_name`, `attribute_name` (a path, any spelling) → the whole type. Owner only.
async fn remove_attribute(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let attribute = call.params.required("attribute_name")?;
    let et = call
        .service
        .remove_attribute(&call.ctx, &call.app_id, name, attribute)
        .await
        .map_err(entity_error(Args {
            in_use: "attribute_name",
            ..ARGS
        }))?;
    reply([("schema", schema(&et.name, et.attr_defs()))])
}

/// `type_name`, `for_client_id` (default: the caller), `access_type`, `attributes` (JSON list)
/// → the type as restricted by the new schema, and a notice naming the reserved attributes
/// that were added. Owner only.
async fn set_access_schema(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let target = call.target_client()?;
    let access_type = call.params.required("access_type")?;
    let attributes = call.params.required_string_list("attributes")?;
    let view = call
        .service
        .set_access_schema(
            &call.ctx,
            &call.app_id,
            &target,
            name,
            access_type,
            &attributes,
        )
        .await
        .map_err(entity_error(ARGS))?;
    let mut fields = reply([(
        "schema",
        schema(&view.entity_type.name, view.restricted_attr_defs()),
    )])?;
    if let Some(notice) = added_reserved_notice(&attributes) {
        fields.insert("notice".into(), Value::String(notice));
    }
    Ok(fields)
}

/// `type_name`, `for_client_id` (default: the caller), `access_type` → the type as that client
/// sees it (the whole type when no schema restricts it). Any client with a feature.
async fn get_access_schema(call: Call) -> Reply {
    let name = call.params.required("type_name")?;
    let target = call.target_client()?;
    let access_type = call.params.required("access_type")?;
    let view = call
        .service
        .read_access_schema(&call.ctx, &call.app_id, &target, name, access_type)
        .await
        .map_err(entity_error(ARGS))?;
    reply([(
        "schema",
        schema(&view.entity_type.name, view.restricted_attr_defs()),
    )])
}

/// Stand-ins for the shared Registration adapter (see the module docs): same names, same
/// behaviour and texts, only what the calls above use.
mod local {
    use std::collections::BTreeMap;
    use std::future::Future;

    use actix_web::dev::Payload;
    use actix_web::http::header;
    use actix_web::{web, HttpRequest, HttpResponse};
    use serde_json::{json, Map, Value};

    use crate::auth::credentials::{parse_authorization, AuthorizationError};
    use crate::auth::Credentials;
    use crate::domain::ValidationError;
    use crate::http::request::{read_body, request_id, source_ip, BodyError};
    use crate::http::HttpState;
    use crate::service::{AuthError, Caller, Latchkey, RequestContext, ServiceError};

    pub type Reply = Result<Map<String, Value>, RegError>;

    pub fn reply<const N: usize>(fields: [(&str, Value); N]) -> Reply {
        Ok(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[derive(Debug)]
    pub enum RegError {
        Service(ServiceError),
        Auth(AuthError),
        AuthMethod,
        Missing(&'static str),
        Invalid {
            argument: String,
            reason: String,
        },
        Duplicate(String),
        UnknownApplication,
        BadRequest(&'static str),
        /// An error of the vendor's code table with its own code and text.
        Coded {
            code: u16,
            error: &'static str,
            description: String,
        },
    }

    impl RegError {
        pub fn invalid(argument: &str, reason: &str) -> Self {
            RegError::Invalid {
                argument: argument.to_owned(),
                reason: reason.to_owned(),
            }
        }
    }

    impl From<ServiceError> for RegError {
        fn from(e: ServiceError) -> Self {
            RegError::Service(e)
        }
    }

    impl From<AuthError> for RegError {
        fn from(e: AuthError) -> Self {
            RegError::Auth(e)
        }
    }

    const PERMISSION_TEXT: &str = "the provided client does not have authorization for this action";
    const CREDENTIALS_TEXT: &str = "client_id and client_secret are missing or not valid";
    const UNKNOWN_APP_TEXT: &str = "application_id does not name an application of the caller";
    const UNAVAILABLE_TEXT: &str = "the service is unavailable, try again later";
    const INTERNAL_TEXT: &str = "unexpected internal error";

    /// (code, error, description, argument_name)
    type Envelope = (u16, &'static str, String, Option<String>);

    fn invalid(argument: &str, reason: &str) -> Envelope {
        (
            200,
            "invalid_argument",
            format!("{argument} was not valid for the following reason: {reason}"),
            Some(argument.to_owned()),
        )
    }

    fn plain(code: u16, error: &'static str, description: &str) -> Envelope {
        (code, error, description.to_owned(), None)
    }

    fn envelope(e: &RegError) -> Envelope {
        match e {
            RegError::Service(ServiceError::Forbidden)
            | RegError::Auth(AuthError::IpNotAllowed) => {
                plain(403, "client_permission_error", PERMISSION_TEXT)
            }
            RegError::Service(ServiceError::ClientNotFound) => {
                invalid("for_client_id", "for_client_id is not a valid id")
            }
            RegError::Service(ServiceError::Invalid(v)) => invalid(v.field(), &v.to_string()),
            RegError::Service(ServiceError::Unavailable)
            | RegError::Auth(AuthError::Unavailable) => {
                plain(500, "unexpected_error", UNAVAILABLE_TEXT)
            }
            RegError::Service(ServiceError::AppNotFound) | RegError::UnknownApplication => {
                plain(221, "unknown_application", UNKNOWN_APP_TEXT)
            }
            RegError::Service(ServiceError::Unauthenticated)
            | RegError::Auth(AuthError::BadCredentials) => {
                plain(402, "invalid_client_credentials", CREDENTIALS_TEXT)
            }
            RegError::Service(_) | RegError::Auth(AuthError::Internal) => {
                plain(500, "unexpected_error", INTERNAL_TEXT)
            }
            RegError::AuthMethod => plain(
                205,
                "invalid_auth_method",
                "use HTTP Basic authentication or the client_id and client_secret parameters",
            ),
            RegError::Missing(argument) => (
                100,
                "missing_argument",
                format!("missing arguments: {argument}"),
                Some((*argument).to_owned()),
            ),
            RegError::Invalid { argument, reason } => invalid(argument, reason),
            RegError::Duplicate(argument) => (
                201,
                "duplicate_argument",
                format!("{argument} was given more than once"),
                Some(argument.clone()),
            ),
            RegError::BadRequest(description) => plain(200, "invalid_argument", description),
            RegError::Coded {
                code,
                error,
                description,
            } => (*code, error, description.clone(), None),
        }
    }

    fn respond(e: &RegError, request_id: &str) -> HttpResponse {
        let (code, error, description, argument) = envelope(e);
        if code == 500 {
            tracing::error!(error = ?e, "registration call failed");
        }
        let mut body = json!({
            "stat": "error",
            "code": code,
            "error": error,
            "error_description": description,
            "request_id": request_id,
        });
        if let (Some(argument), Value::Object(map)) = (argument, &mut body) {
            map.insert("argument_name".into(), Value::String(argument));
        }
        HttpResponse::Ok().json(body)
    }

    /// Named text parameters: query string and form body merged; a name given twice is refused.
    /// No `Debug`: `client_secret` is one of them.
    pub struct Params(BTreeMap<String, String>);

    impl Params {
        fn parse(query: &str, body: &[u8]) -> Result<Self, RegError> {
            let mut map = BTreeMap::new();
            for (name, value) in
                form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(body))
            {
                let name = name.into_owned();
                if map.contains_key(&name) {
                    return Err(RegError::Duplicate(name));
                }
                map.insert(name, value.into_owned());
            }
            Ok(Self(map))
        }

        pub fn get(&self, name: &str) -> Option<&str> {
            self.0.get(name).map(String::as_str)
        }

        pub fn required(&self, name: &'static str) -> Result<&str, RegError> {
            self.get(name).ok_or(RegError::Missing(name))
        }

        /// A parameter holding JSON text (`None` when absent).
        pub fn json(&self, name: &str) -> Result<Option<Value>, RegError> {
            self.get(name)
                .map(|text| {
                    serde_json::from_str(text)
                        .map_err(|_| RegError::invalid(name, "not valid JSON"))
                })
                .transpose()
        }

        pub fn required_string_list(&self, name: &'static str) -> Result<Vec<String>, RegError> {
            let value = self.json(name)?.ok_or(RegError::Missing(name))?;
            let Value::Array(items) = value else {
                return Err(RegError::invalid(
                    name,
                    &ValidationError::NotAList { field: name }.to_string(),
                ));
            };
            items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(RegError::invalid(
                        name,
                        &ValidationError::NotAString { field: name }.to_string(),
                    )),
                })
                .collect()
        }
    }

    pub struct Call {
        pub ctx: RequestContext,
        pub app_id: String,
        pub params: Params,
        pub service: Latchkey,
    }

    fn is_form(req: &HttpRequest) -> bool {
        match req.headers().get(header::CONTENT_TYPE) {
            None => true,
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<mime::Mime>().ok())
                .is_some_and(|m| {
                    m.essence_str() == mime::APPLICATION_WWW_FORM_URLENCODED.essence_str()
                }),
        }
    }

    /// An `Authorization` header wins; without one, the `client_id`/`client_secret` parameters.
    fn credentials(req: &HttpRequest, params: &Params) -> Result<Option<Credentials>, RegError> {
        if let Some(value) = req.headers().get(header::AUTHORIZATION) {
            let Ok(value) = value.to_str() else {
                return Ok(None);
            };
            return parse_authorization(value)
                .map_err(|AuthorizationError::Unsupported { .. }| RegError::AuthMethod);
        }
        Ok(
            match (params.get("client_id"), params.get("client_secret")) {
                (Some(client_id), Some(secret)) => Some(Credentials::Client {
                    client_id: client_id.to_owned(),
                    secret: secret.to_owned(),
                }),
                _ => None,
            },
        )
    }

    impl Call {
        async fn read(req: &HttpRequest, payload: Payload) -> Result<Call, RegError> {
            let state = req
                .app_data::<web::Data<HttpState>>()
                .cloned()
                .expect("HttpState is registered in startup");
            let body = read_body(req, payload).await.map_err(|e| match e {
                BodyError::TooLarge => {
                    RegError::BadRequest("the request body is larger than 65536 bytes")
                }
                BodyError::Unreadable => RegError::BadRequest("the request body could not be read"),
            })?;
            if !body.is_empty() && !is_form(req) {
                return Err(RegError::BadRequest(
                    "the request body must be application/x-www-form-urlencoded",
                ));
            }
            let params = Params::parse(req.query_string(), &body)?;
            let credentials = credentials(req, &params)?;
            let source = source_ip(req);
            let caller = state
                .service
                .authenticate(None, credentials, source)
                .await?;
            let app_id = match &caller {
                Caller::Client { app_id, .. } => match params.get("application_id") {
                    Some(named) if named != app_id => return Err(RegError::UnknownApplication),
                    _ => app_id.clone(),
                },
                Caller::Operator => params.required("application_id")?.to_owned(),
            };
            Ok(Call {
                ctx: RequestContext {
                    request_id: request_id(req),
                    source_ip: Some(source),
                    caller,
                },
                app_id,
                params,
                service: state.service.clone(),
            })
        }

        /// `for_client_id`, which defaults to the caller (the operator has no default).
        pub fn target_client(&self) -> Result<String, RegError> {
            match self.params.get("for_client_id") {
                Some(id) => Ok(id.to_owned()),
                None => self
                    .ctx
                    .caller
                    .client_id()
                    .map(str::to_owned)
                    .ok_or(RegError::Missing("for_client_id")),
            }
        }
    }

    /// Serves `path` with `op` for GET (query string) and POST (query string and form body).
    pub fn register<F, Fut>(cfg: &mut web::ServiceConfig, path: &str, op: F)
    where
        F: Fn(Call) -> Fut + Clone + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        let handler =
            move |req: HttpRequest, payload: web::Payload| serve(req, payload, op.clone());
        cfg.service(
            web::resource(path)
                .route(web::get().to(handler.clone()))
                .route(web::post().to(handler))
                .default_service(web::to(wrong_method)),
        );
    }

    async fn serve<F, Fut>(req: HttpRequest, payload: web::Payload, op: F) -> HttpResponse
    where
        F: FnOnce(Call) -> Fut,
        Fut: Future<Output = Reply>,
    {
        let result = match Call::read(&req, payload.into_inner()).await {
            Ok(call) => op(call).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(mut fields) => {
                fields.insert("stat".into(), Value::from("ok"));
                HttpResponse::Ok().json(Value::Object(fields))
            }
            Err(e) => respond(&e, &request_id(&req)),
        }
    }

    async fn wrong_method(req: HttpRequest) -> HttpResponse {
        respond(
            &RegError::BadRequest("use GET or POST for Registration API calls"),
            &request_id(&req),
        )
    }
}

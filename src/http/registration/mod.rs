//! The Registration API (spec §4): the vendor's legacy form-encoded RPC calls at the server
//! root (`/clients/add`, `/settings/get`, …). A second adapter over the same use cases as the
//! Config API: parse the parameters, call one service method, shape the vendor's answer.
//!
//! Every answer is HTTP 200: `{"stat":"ok", …}` or the error envelope of [`error`].

mod clients;
pub mod error;
pub mod extract;
pub mod params;
mod settings;

use std::future::Future;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

pub use error::{ArgNames, RegError};
pub use extract::Call;
pub use params::Params;

use crate::http::request::request_id;

/// What a call answers on success: the fields next to `"stat":"ok"`.
pub type Reply = Result<Map<String, Value>, RegError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    register(cfg, "/clients/add", clients::add);
    register(cfg, "/clients/list", clients::list);
    register(cfg, "/clients/delete", clients::delete);
    register(cfg, "/clients/set_features", clients::set_features);
    register(cfg, "/clients/set_whitelist", clients::set_whitelist);
    register(cfg, "/clients/clear_whitelist", clients::clear_whitelist);
    register(cfg, "/clients/set_description", clients::set_description);
    register(cfg, "/clients/reset_secret", clients::reset_secret);
    register(cfg, "/settings/get", settings::get);
    register(cfg, "/settings/get_multi", settings::get_multi);
    register(cfg, "/settings/items", settings::items);
    register(cfg, "/settings/keys", settings::keys);
    register(cfg, "/settings/set", settings::set);
    register(cfg, "/settings/set_multi", settings::set_multi);
    register(cfg, "/settings/delete", settings::delete);
    register(cfg, "/settings/get_default", settings::get_default);
    register(cfg, "/settings/set_default", settings::set_default);
    register(
        cfg,
        "/settings/set_default_multi",
        settings::set_default_multi,
    );
    register(cfg, "/settings/delete_default", settings::delete_default);
    register(cfg, "/settings/get_all", settings::get_all);
}

/// Serves `path` with `op` for GET (query string) and POST (query string and form body).
pub fn register<F, Fut>(cfg: &mut web::ServiceConfig, path: &str, op: F)
where
    F: Fn(Call) -> Fut + Clone + 'static,
    Fut: Future<Output = Reply> + 'static,
{
    let handler = move |req: HttpRequest, payload: web::Payload| serve(req, payload, op.clone());
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
        Err(e) => {
            // Nothing this call appended was committed: no revision to answer with.
            crate::cache::journal::discard();
            error::respond(&e, &request_id(&req))
        }
    }
}

/// Neither GET nor POST: the vendor's envelope, but with HTTP 405, since no call was made.
async fn wrong_method(req: HttpRequest) -> HttpResponse {
    let mut res = error::respond(
        &RegError::BadRequest("use GET or POST for Registration API calls"),
        &request_id(&req),
    );
    *res.status_mut() = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
    res
}

/// Builds a reply from `(name, value)` pairs.
pub fn reply<const N: usize>(fields: [(&str, Value); N]) -> Reply {
    Ok(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

//! Calling the Registration API from tests: form-encoded POSTs, the envelope, the request id.

#![allow(dead_code)]

use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::*;

/// Who calls: HTTP Basic, the `client_id`/`client_secret` parameters, or nobody.
#[derive(Clone, Copy)]
pub enum By<'a> {
    Basic(&'a str, &'a str),
    Params(&'a str, &'a str),
    Nobody,
}

impl<'a> By<'a> {
    pub fn owner(o: &'a Owner) -> Self {
        By::Basic(&o.client_id, &o.secret)
    }
}

/// Sends a built request and checks the Registration API's invariants: HTTP 200, JSON, and on
/// errors a `request_id` equal to the `X-Request-Id` header (removed from the returned body,
/// so tests can compare whole bodies).
pub async fn send(req: RequestBuilder) -> Value {
    let res = req.fetch().await;
    assert_eq!(res.status, 200, "the Registration API always answers 200");
    let header_id = res.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(header_id.len(), 16);
    let mut body: Value = res.body;
    if body["stat"] == "error" {
        assert_eq!(body["request_id"], Value::String(header_id), "{body}");
        body.as_object_mut().unwrap().remove("request_id");
    }
    body
}

/// POSTs `form` to `path` as `by`.
pub async fn call(app: &TestApp, by: By<'_>, path: &str, form: &[(&str, &str)]) -> Value {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    let mut req = app.request(Method::POST, path);
    match by {
        By::Basic(id, secret) => req = req.header("Authorization", basic(id, secret)),
        By::Params(id, secret) => {
            fields.push(("client_id", id));
            fields.push(("client_secret", secret));
        }
        By::Nobody => {}
    }
    send(req.form(&fields)).await
}

impl TestApp {
    /// POSTs `form` to the Registration API's `path` as `owner`'s owner client; the body, checked
    /// by [`send`].
    pub async fn rpc(&self, owner: &Owner, path: &str, form: &[(&str, &str)]) -> Value {
        call(self, By::owner(owner), path, form).await
    }

    /// [`TestApp::rpc`] that must succeed (`"stat": "ok"`); returns the body.
    pub async fn rpc_ok(&self, owner: &Owner, path: &str, form: &[(&str, &str)]) -> Value {
        let body = self.rpc(owner, path, form).await;
        assert_eq!(body["stat"], "ok", "{path}: {body}");
        body
    }
}

/// An error envelope without its request id.
pub fn reg_error(code: u16, error: &str, description: &str, argument: Option<&str>) -> Value {
    let mut v =
        json!({"stat": "error", "code": code, "error": error, "error_description": description});
    if let Some(arg) = argument {
        v["argument_name"] = json!(arg);
    }
    v
}

pub fn missing(arg: &str) -> Value {
    reg_error(
        100,
        "missing_argument",
        &format!("missing arguments: {arg}"),
        Some(arg),
    )
}

pub fn invalid(arg: &str, reason: &str) -> Value {
    reg_error(
        200,
        "invalid_argument",
        &format!("{arg} was not valid for the following reason: {reason}"),
        Some(arg),
    )
}

pub fn permission(description: &str) -> Value {
    reg_error(403, "client_permission_error", description, None)
}

pub const NO_AUTHORIZATION: &str =
    "the provided client does not have authorization for this action";

pub fn bad_credentials() -> Value {
    reg_error(
        402,
        "invalid_client_credentials",
        "client_id and client_secret are missing or not valid",
        None,
    )
}

pub fn ok(fields: Value) -> Value {
    let mut v = fields;
    v["stat"] = json!("ok");
    v
}

/// Client settings as the Config API shows them.
pub async fn config_get(app: &TestApp, owner: &Owner, path: &str) -> Value {
    let (status, body) = app.by(owner).get(path).await.pair();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Adds a client through the Registration API as the owner; returns (id, secret).
pub async fn add(
    app: &TestApp,
    owner: &Owner,
    description: &str,
    features: &str,
) -> (String, String) {
    let body = app
        .rpc(
            owner,
            "/clients/add",
            &[("description", description), ("features", features)],
        )
        .await;
    assert_eq!(body["stat"], "ok", "{body}");
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

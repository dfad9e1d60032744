//! Sign-in, sign-out and the console's front door.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use subtle::ConstantTimeEq;

use super::page::{layout, respond, Nav};
use super::{
    cookie, redirect, removal, state, Console, ConsoleError, Form, Posted, Refusal, CSRF_FIELD,
    LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::auth::random::random_token;
use crate::http::request::source_ip;
use crate::service::{AuthError, ConsoleLogin, ServiceError, SignInError};

/// `/console`: the operator starts at the applications, an owner at its clients.
pub async fn home(session: Console) -> HttpResponse {
    match session.own_app() {
        Some(app) => redirect(&format!("/console/apps/{app}/clients")),
        None => redirect("/console/apps"),
    }
}

#[derive(serde::Deserialize)]
pub struct SignInQuery {
    signed_out: Option<String>,
}

pub async fn sign_in_page(
    req: HttpRequest,
    session: Option<Console>,
    query: web::Query<SignInQuery>,
) -> HttpResponse {
    if session.is_some() {
        return redirect("/console");
    }
    let note = query.signed_out.is_some().then_some("You are signed out.");
    sign_in_form(&req, StatusCode::OK, None, note, "")
}

/// The sign-in page with a fresh CSRF token bound to its own cookie.
fn sign_in_form(
    req: &HttpRequest,
    status: StatusCode,
    refusal: Option<&Refusal>,
    note: Option<&str>,
    app_id: &str,
) -> HttpResponse {
    let token = random_token(32);
    let owner_fields = html! {
        label for="app_id" { "Application id" }
        input #app_id type="text" name="app_id" value=(app_id) required
            autocomplete="username" spellcheck="false";
        label for="client_id" { "Client id" }
        input #client_id type="text" name="client_id" required spellcheck="false";
        label for="client_secret" { "Client secret" }
        input #client_secret type="password" name="client_secret" required
            autocomplete="current-password";
    };
    let operator_fields = html! {
        label for="operator_token" { "Operator token" }
        input #operator_token type="password" name="operator_token" required
            autocomplete="current-password";
    };
    let body = html! {
        (super::page::notice(note))
        (super::page::refusal(refusal))
        div.grid {
            (sign_in_card("owner", "Application owner",
                "Sign in with a client that has the owner feature.",
                &token, owner_fields, "Sign in"))
            (sign_in_card("operator", "Platform operator",
                "Sign in with the operator token (LATCHKEY_OPERATOR_TOKEN).",
                &token, operator_fields, "Sign in as operator"))
        }
    };
    let mut res = respond(status, layout("Sign in", None, None, Nav::None, body));
    if let Some(seconds) = refusal.and_then(|r| r.retry_after) {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    let _ = res.add_cookie(&cookie(req, LOGIN_COOKIE, token));
    res
}

/// One way to sign in: a card titled `title` (its heading's id `{id}-title`) whose form posts
/// `fields` with the page's CSRF token to the one sign-in route, which tells the ways apart by
/// the fields sent.
fn sign_in_card(
    id: &str,
    title: &str,
    hint: &str,
    token: &str,
    fields: Markup,
    button: &str,
) -> Markup {
    let title_id = format!("{id}-title");
    html! {
        section.card aria-labelledby=(title_id) {
            h2 #(title_id) { (title) }
            p.hint { (hint) }
            form method="post" action="/console/sign-in" {
                input type="hidden" name=(CSRF_FIELD) value=(token);
                (fields)
                button type="submit" { (button) }
            }
        }
    }
}

fn sign_in_refusal(e: SignInError) -> Refusal {
    let (status, message, retry_after) = match e {
        SignInError::Auth(AuthError::BadCredentials) => (
            StatusCode::UNAUTHORIZED,
            "Sign-in failed: the application id, client id, secret or operator token is wrong."
                .to_owned(),
            None,
        ),
        SignInError::Auth(AuthError::IpNotAllowed) => (
            StatusCode::FORBIDDEN,
            "This client's allow list does not include your address.".to_owned(),
            None,
        ),
        SignInError::Auth(AuthError::RateLimited { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins. Try again in {retry_after_secs} seconds."),
            Some(retry_after_secs),
        ),
        SignInError::Auth(AuthError::Unavailable) => {
            return ServiceError::Unavailable.into();
        }
        SignInError::Auth(AuthError::Internal) => {
            return ServiceError::Internal("authentication".into()).into();
        }
        SignInError::NotOwner => (StatusCode::FORBIDDEN, e.to_string(), None),
        SignInError::Service(e) => return e.into(),
    };
    Refusal {
        status,
        message,
        retry_after,
    }
}

pub async fn sign_in(req: HttpRequest, form: Form) -> Result<HttpResponse, ConsoleError> {
    let expected = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    let given = form.get(CSRF_FIELD);
    let fresh = expected
        .as_deref()
        .is_some_and(|e| !e.is_empty() && bool::from(e.as_bytes().ct_eq(given.as_bytes())));
    if !fresh {
        return Err(ConsoleError::Csrf);
    }
    let state = state(&req).ok_or(ConsoleError::SignedOut)?;
    let login = if !form.get("operator_token").is_empty() {
        ConsoleLogin::Operator {
            token: form.get("operator_token").to_owned(),
        }
    } else {
        ConsoleLogin::Owner {
            app_id: form.get("app_id").trim().to_owned(),
            client_id: form.get("client_id").trim().to_owned(),
            secret: form.get("client_secret").to_owned(),
        }
    };
    match state
        .service
        .console_sign_in(login, source_ip(&req), state.console_idle)
        .await
    {
        Ok(session) => {
            let mut res = redirect("/console");
            res.add_cookie(&cookie(&req, SESSION_COOKIE, session.cookie))
                .map_err(|_| ConsoleError::BadForm)?;
            let _ = res.add_cookie(&removal(&req, LOGIN_COOKIE));
            Ok(res)
        }
        Err(e) => {
            let refusal = sign_in_refusal(e);
            Ok(sign_in_form(
                &req,
                refusal.status,
                Some(&refusal),
                None,
                form.get("app_id").trim(),
            ))
        }
    }
}

pub async fn sign_out(req: HttpRequest, posted: Posted) -> Result<HttpResponse, ConsoleError> {
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        posted.session.service.console_sign_out(c.value()).await?;
    }
    let mut res = redirect("/console/sign-in?signed_out=1");
    let _ = res.add_cookie(&removal(&req, SESSION_COOKIE));
    Ok(res)
}

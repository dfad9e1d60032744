//! The page layout, the embedded assets and small pieces several pages share.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use super::{Console, Refusal, CSRF_FIELD};
use crate::domain::Feature;

const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// Pages are private and may show a secret once: never cached, never framed, no foreign code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(body)
}

/// Which header link is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Apps,
    Clients,
    Settings,
    Audit,
    Review,
    OAuth,
    None,
}

/// An HTML response with the console's headers.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    let mut res = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(markup.into_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        crate::http::retry_after(&mut res);
    }
    res
}

/// The whole page: header with navigation for `app_id` (when one is in view), then `body`.
pub fn layout(
    title: &str,
    session: Option<&Console>,
    app_id: Option<&str>,
    nav: Nav,
    body: Markup,
) -> Markup {
    let current = |n: Nav| (n == nav).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Latchkey console" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { "Latchkey console" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            @if s.is_operator() {
                                a href="/console/apps" aria-current=[current(Nav::Apps)] { "Applications" }
                            }
                            @if let Some(app) = app_id {
                                a href={ "/console/apps/" (app) "/clients" } aria-current=[current(Nav::Clients)] { "Clients" }
                                a href={ "/console/apps/" (app) "/settings" } aria-current=[current(Nav::Settings)] { "Settings" }
                                a href={ "/console/apps/" (app) "/audit" } aria-current=[current(Nav::Audit)] { "Audit" }
                                a href={ "/console/apps/" (app) "/review" } aria-current=[current(Nav::Review)] { "Access review" }
                                a href={ "/console/apps/" (app) "/oauth" } aria-current=[current(Nav::OAuth)] { "OAuth" }
                            }
                            span.who { (s.who()) }
                            form method="post" action="/console/sign-out" {
                                (csrf(s))
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A link's query string (`a=1&b=2`, form-encoded) from name/value pairs, in their order.
pub fn query<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k.as_ref(), v.as_ref());
    }
    q.finish()
}

pub fn csrf(s: &Console) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(s.csrf); }
}

/// What a change did, shown above the page it came back to.
pub fn notice(n: Option<&str>) -> Markup {
    html! {
        @if let Some(n) = n {
            p.msg.ok role="status" { (n) }
        }
    }
}

pub fn refusal(r: Option<&Refusal>) -> Markup {
    html! {
        @if let Some(r) = r {
            p.msg.error role="alert" { (r.message) }
        }
    }
}

pub fn error_page(session: Option<&Console>, status: StatusCode, message: &str) -> HttpResponse {
    let title = match status.as_u16() {
        403 => "Not allowed",
        404 => "Not found",
        _ => "Something went wrong",
    };
    respond(
        status,
        layout(
            title,
            session,
            session.and_then(Console::own_app),
            Nav::None,
            html! {
                p.msg.error role="alert" { (message) }
                p { a href="/console" { "Back to the console" } }
            },
        ),
    )
}

/// A secret shown once, with a copy button.
pub fn secret_box(label: &str, secret: &str) -> Markup {
    html! {
        p { strong { (label) } " — shown only now; copy it to a safe place." }
        div.secret {
            code #secret-value { (secret) }
            button.secondary type="button" data-copy="secret-value" { "Copy" }
        }
    }
}

/// What each feature means for the checkboxes, with the rules that constrain it.
fn feature_hint(f: Feature, operator: &str) -> String {
    match f {
        Feature::Owner => "Full administrative access to the application. A client with it \
                           cannot be deleted, and only the operator removes it (never the \
                           client from itself)."
            .into(),
        Feature::AccessIssuer => "Issues access tokens scoped for use with all API clients.".into(),
        Feature::DirectAccess => "Read/write access to all user records.".into(),
        Feature::DirectReadAccess => "Read-only access to all user records.".into(),
        Feature::LoginClient => "Read/write access to the current user's record (login and \
                                 registration). Cannot be combined with any other feature."
            .into(),
        Feature::Metadata => format!(
            "Updates leave lastUpdated untouched. Only {operator} (the operator) may add it, \
             or change a client that has it."
        ),
    }
}

/// The feature checkboxes of a form, `checked` ticked.
pub fn feature_boxes(session: &Console, checked: &[String]) -> Markup {
    let operator = session.service.operator_name().to_owned();
    html! {
        fieldset.features {
            legend { "Features" }
            @for f in Feature::ALL {
                @let id = format!("feature-{}", f.as_str());
                label.check for=(id) {
                    input type="checkbox" id=(id) name="features" value=(f.as_str())
                        checked[checked.iter().any(|c| c == f.as_str())];
                    span {
                        code { (f.as_str()) } br;
                        span.hint { (feature_hint(f, &operator)) }
                    }
                }
            }
            // Shown by the stylesheet (`:has`) as boxes are ticked; the service decides anyway.
            p.msg.error.rule.rule-login role="note" {
                "login_client cannot be combined with any other feature: saving will be refused."
            }
            @if !session.is_operator() {
                p.msg.error.rule.rule-metadata role="note" {
                    "Only " (operator) " (the operator) may add metadata or change a client that has it: saving will be refused."
                }
            }
        }
    }
}

/// Features as small tags.
pub fn feature_tags(features: &[String]) -> Markup {
    html! {
        @if features.is_empty() { span.hint { "none" } }
        @for f in features { span.tag { (f) } " " }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_page_says_when_to_retry() {
        let retry = |status| {
            respond(status, html! { p { "x" } })
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        assert_eq!(retry(StatusCode::SERVICE_UNAVAILABLE), Some("2".into()));
        assert_eq!(retry(StatusCode::FORBIDDEN), None);
    }
}

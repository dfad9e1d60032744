//! Settings: the application defaults and each client's own values. A value is JSON text; what
//! does not parse as JSON is taken as a string.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde_json::{Map, Value};

use super::page::{csrf, layout, refusal, respond, Nav};
use super::{Console, ConsoleError, Form, Posted, Refusal};
use crate::domain::ids::{AppId, ClientId};
use crate::service::SettingsTarget;

/// Empty rows offered for new keys.
const NEW_ROWS: usize = 2;

/// The settings form: one row per key (value, remove box) and empty rows for new keys.
pub fn settings_form(session: &Console, action: &str, values: &Map<String, Value>) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf(session))
            @if values.is_empty() { p.hint { "No values yet." } }
            @for (i, (key, value)) in values.iter().enumerate() {
                div.row {
                    input type="hidden" name="key" value=(key);
                    div {
                        label for={ "value-" (i) } { code { (key) } }
                        input id={ "value-" (i) } type="text" name="value" value=(value.to_string()) spellcheck="false";
                    }
                    div.narrow {
                        label.check for={ "remove-" (i) } {
                            input id={ "remove-" (i) } type="checkbox" name="remove" value=(key);
                            span { "Remove" }
                        }
                    }
                }
            }
            @for i in 0..NEW_ROWS {
                div.row {
                    div {
                        label for={ "new-key-" (i) } { "New key" }
                        input id={ "new-key-" (i) } type="text" name="key" spellcheck="false";
                    }
                    div {
                        label for={ "new-value-" (i) } { "Value" }
                        input id={ "new-value-" (i) } type="text" name="value" spellcheck="false";
                    }
                }
            }
            p.hint { "Values are JSON (\"text\", 42, true, {…}); anything else is saved as text." }
            button type="submit" { "Save settings" }
        }
    }
}

/// The whole set a form describes: rows in order, removed keys and empty new rows left out.
fn submitted(form: &Form) -> Map<String, Value> {
    let removed = form.all("remove");
    form.all("key")
        .into_iter()
        .zip(form.all("value"))
        .filter(|(k, _)| !k.trim().is_empty() && !removed.contains(k))
        .map(|(k, v)| {
            let value = serde_json::from_str::<Value>(&v).unwrap_or(Value::String(v));
            (k.trim().to_owned(), value)
        })
        .collect()
}

#[derive(serde::Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    notice: String,
}

pub async fn show(
    session: Console,
    app_id: web::Path<AppId>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = app_id.into_inner();
    let notice = (query.notice == "saved").then_some("Settings saved.");
    defaults_page(&session, &app_id, StatusCode::OK, None, notice).await
}

async fn defaults_page(
    session: &Console,
    app_id: &AppId,
    status: StatusCode,
    refused: Option<&Refusal>,
    notice: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let all = session.service.all_settings(&session.ctx, app_id).await?;
    let body = html! {
        @if let Some(n) = notice { p.msg.ok role="status" { (n) } }
        section.card aria-labelledby="defaults-title" {
            h2 #defaults-title { "Application defaults" }
            p.hint { "Every client reads these unless it has its own value." }
            (refusal(refused))
            (settings_form(session, &format!("/console/apps/{app_id}/settings"), &all.defaults))
        }
        section.card aria-labelledby="overrides-title" {
            h2 #overrides-title { "Client overrides" }
            @if all.clients.is_empty() { p.hint { "No client has values of its own." } }
            @else {
                table.stack {
                    thead { tr { th { "Client" } th { "Keys" } } }
                    tbody {
                        @for (client_id, values) in &all.clients {
                            tr {
                                td data-label="Client" {
                                    a href={ "/console/apps/" (app_id) "/clients/" (client_id) "#settings-title" } { code { (client_id) } }
                                }
                                td data-label="Keys" {
                                    @for k in values.keys() { span.tag { (k) } " " }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        status,
        layout("Settings", Some(session), Some(app_id), Nav::Settings, body),
    ))
}

pub async fn save_defaults(
    posted: Posted,
    app_id: web::Path<AppId>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let app_id = app_id.into_inner();
    let outcome = session
        .service
        .replace_settings(
            &session.ctx,
            &app_id,
            SettingsTarget::Defaults,
            submitted(&form),
        )
        .await;
    match session.wrote(outcome) {
        Ok(_) => Ok(session.see_other(&format!("/console/apps/{app_id}/settings?notice=saved"))),
        Err(e) => {
            let refused = Refusal::from(e);
            defaults_page(&session, &app_id, refused.status, Some(&refused), None).await
        }
    }
}

pub async fn save_client(
    posted: Posted,
    path: web::Path<(AppId, ClientId)>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let (app_id, client_id) = path.into_inner();
    let outcome = session
        .service
        .replace_settings(
            &session.ctx,
            &app_id,
            SettingsTarget::Client(&client_id),
            submitted(&form),
        )
        .await;
    match session.wrote(outcome) {
        Ok(_) => Ok(session.see_other(&format!(
            "/console/apps/{app_id}/clients/{client_id}?notice=settings"
        ))),
        Err(e) => super::clients::settings_refused(&session, &app_id, &client_id, e).await,
    }
}

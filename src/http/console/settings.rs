//! Settings: the application defaults and each client's own values. A value is JSON text; what
//! does not parse as JSON is taken as a string.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;

use super::forms::{settings_form, submitted_settings};
use super::page::{layout, refusal, respond, Nav};
use super::{Console, ConsoleError, Form, NoticeQuery, Posted, Refusal};
use crate::domain::ids::{AppId, ClientId, Named};
use crate::service::{SettingsError, SettingsTarget};

pub async fn show(
    session: Console,
    app_id: web::Path<Named<AppId>>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = app_id.into_inner();
    let notice = query.text(&[("saved", "Settings saved.")]);
    defaults_page(&session, &app_id, StatusCode::OK, None, notice).await
}

async fn defaults_page(
    session: &Console,
    app_id: &Named<AppId>,
    status: StatusCode,
    refused: Option<&Refusal>,
    notice: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let all = session.service.settings().all(&session.ctx, app_id).await?;
    let body = html! {
        (super::page::notice(notice))
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
        layout(
            "Settings",
            Some(session),
            Some(app_id.as_str()),
            Nav::Settings,
            body,
        ),
    ))
}

/// The one write of both settings forms: the target's values become the form's (keys left
/// out or marked for removal are deleted), its revisions applied for the page after.
async fn save(
    session: &Console,
    app_id: &Named<AppId>,
    target: SettingsTarget<'_>,
    form: &Form,
) -> Result<(), SettingsError> {
    let outcome = session
        .service
        .settings()
        .replace(&session.ctx, app_id, target, submitted_settings(form))
        .await;
    session.wrote(outcome).map(drop)
}

pub async fn save_defaults(
    posted: Posted,
    app_id: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let app_id = app_id.into_inner();
    match save(&session, &app_id, SettingsTarget::Defaults, &form).await {
        Ok(_) => Ok(session.see_other(&format!("/console/apps/{app_id}/settings?notice=saved"))),
        Err(e) => {
            let refused = Refusal::from(e);
            defaults_page(&session, &app_id, refused.status, Some(&refused), None).await
        }
    }
}

pub async fn save_client(
    posted: Posted,
    path: web::Path<(Named<AppId>, Named<ClientId>)>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let (app_id, client_id) = path.into_inner();
    match save(&session, &app_id, SettingsTarget::Client(&client_id), &form).await {
        Ok(_) => Ok(session.see_other(&format!(
            "/console/apps/{app_id}/clients/{client_id}?notice=settings"
        ))),
        Err(e) => super::clients::settings_refused(&session, &app_id, &client_id, e).await,
    }
}

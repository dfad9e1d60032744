//! Clients: list, search, create, edit, rotate the secret, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::page::{csrf, feature_boxes, feature_tags, layout, refusal, respond, secret_box, Nav};
use super::{Console, ConsoleError, Form, NoticeQuery, Posted, Refusal};
use crate::domain::ids::{AppId, ClientId, Named};
use crate::domain::Feature;
use crate::service::{ClientChange, ClientDraft, ClientView, SettingsTarget};

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    feature: String,
    #[serde(default)]
    notice: String,
}

/// What the create or edit form held when it was refused, to show it again.
#[derive(Default)]
struct Draft {
    name: String,
    features: Vec<String>,
    allow_list: String,
}

impl Draft {
    fn submitted(form: &Form) -> Draft {
        Draft {
            name: form.get("name").to_owned(),
            features: form.all("features"),
            allow_list: form.get("ip_whitelist").to_owned(),
        }
    }

    /// The client's fields, as the create and the edit form show them.
    fn fields(&self, session: &Console) -> Markup {
        html! {
            label for="name" { "Name" }
            input #name type="text" name="name" value=(self.name) required;
            (feature_boxes(session, &self.features))
            label for="ip_whitelist" {
                "Allow list " span.hint { "(one CIDR block per line, IPv4 or IPv6; empty: no address may call)" }
            }
            textarea #ip_whitelist name="ip_whitelist" rows="3" spellcheck="false" { (self.allow_list) }
        }
    }
}

pub async fn list(
    session: Console,
    app_id: web::Path<Named<AppId>>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = app_id.into_inner();
    let draft = Draft {
        allow_list: "0.0.0.0/0".into(),
        ..Draft::default()
    };
    list_page(&session, &app_id, &query, StatusCode::OK, None, &draft).await
}

async fn list_page(
    session: &Console,
    app_id: &Named<AppId>,
    query: &ListQuery,
    status: StatusCode,
    refused: Option<&Refusal>,
    draft: &Draft,
) -> Result<HttpResponse, ConsoleError> {
    let filter: Vec<String> = (!query.feature.is_empty())
        .then(|| query.feature.clone())
        .into_iter()
        .collect();
    let clients = session
        .service
        .clients()
        .list(&session.ctx, app_id, &filter)
        .await?;
    let needle = query.q.trim().to_lowercase();
    let shown: Vec<&ClientView> = clients
        .iter()
        .filter(|c| {
            needle.is_empty()
                || c.name.to_lowercase().contains(&needle)
                || c.client_id.starts_with(&needle)
        })
        .collect();
    let notice = match query.notice.as_str() {
        "deleted" => Some("The client was deleted."),
        _ => None,
    };
    let body = html! {
        (super::page::notice(notice))
        section.card aria-labelledby="list-title" {
            h2 #list-title { "Clients of application " code { (app_id) } }
            form.row method="get" action={ "/console/apps/" (app_id) "/clients" } role="search" {
                div {
                    label for="q" { "Search by name or id" }
                    input #q type="text" name="q" value=(query.q);
                }
                div {
                    label for="feature" { "Having feature" }
                    select #feature name="feature" {
                        option value="" selected[query.feature.is_empty()] { "Any" }
                        @for f in Feature::ALL {
                            option value=(f.as_str()) selected[query.feature == f.as_str()] { (f.as_str()) }
                        }
                    }
                }
                div.narrow { button type="submit" { "Filter" } }
            }
            p.hint { (shown.len()) " of " (clients.len()) " clients" }
            table.stack {
                thead { tr { th { "Name" } th { "Client id" } th { "Features" } th { "Allow list" } } }
                tbody {
                    @for c in &shown {
                        tr {
                            td data-label="Name" {
                                a href={ "/console/apps/" (app_id) "/clients/" (c.client_id) } { (c.name) }
                            }
                            td data-label="Client id" { code { (c.client_id) } }
                            td data-label="Features" { (feature_tags(&c.features)) }
                            td data-label="Allow list" { code { (c.ip_whitelist.join(", ")) } }
                        }
                    }
                }
            }
        }
        section.card #create aria-labelledby="create-title" {
            h2 #create-title { "Create a client" }
            (refusal(refused))
            form method="post" action={ "/console/apps/" (app_id) "/clients" } {
                (csrf(session))
                (draft.fields(session))
                button type="submit" { "Create client" }
            }
        }
    };
    Ok(respond(
        status,
        layout(
            "Clients",
            Some(session),
            Some(app_id.as_str()),
            Nav::Clients,
            body,
        ),
    ))
}

pub async fn create(
    posted: Posted,
    app_id: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let app_id = app_id.into_inner();
    let draft = ClientDraft {
        name: form.get("name").to_owned(),
        features: form.all("features"),
        ip_whitelist: Some(form.lines("ip_whitelist")),
    };
    let outcome = session
        .service
        .clients()
        .create(&session.ctx, &app_id, draft)
        .await;
    match session.wrote(outcome) {
        Ok(created) => {
            let c = &created.client;
            let body = html! {
                p.msg.ok role="status" { "Client " strong { (c.name) } " was created." }
                section.card {
                    p { "Client id: " code #client-id { (c.client_id) } }
                    (secret_box("Client secret", &created.secret))
                    p { a href={ "/console/apps/" (app_id) "/clients/" (c.client_id) } { "Open the client" } }
                }
            };
            Ok(session.stamp(respond(
                StatusCode::CREATED,
                layout(
                    "Client created",
                    Some(&session),
                    Some(app_id.as_str()),
                    Nav::Clients,
                    body,
                ),
            )))
        }
        Err(e) => {
            let refused = Refusal::from(e);
            let shown = Draft::submitted(&form);
            list_page(
                &session,
                &app_id,
                &ListQuery::default(),
                refused.status,
                Some(&refused),
                &shown,
            )
            .await
        }
    }
}

pub async fn show(
    session: Console,
    path: web::Path<(Named<AppId>, Named<ClientId>)>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (app_id, client_id) = path.into_inner();
    let notice = query.text(&[("saved", "Saved."), ("settings", "Settings saved.")]);
    let view = View {
        notice,
        ..View::default()
    };
    client_page(&session, &app_id, &client_id, view).await
}

/// Which form of the client page a refusal belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Edit,
    Secret,
    Settings,
    Delete,
}

/// What the client page shows besides the client: a refusal (in the form it concerns), a
/// notice, a secret just minted, or a refused edit as it was submitted.
#[derive(Default)]
struct View<'a> {
    refused: Option<(Part, &'a Refusal)>,
    notice: Option<&'a str>,
    new_secret: Option<&'a str>,
    edit: Option<&'a Draft>,
}

async fn client_page(
    session: &Console,
    app_id: &Named<AppId>,
    client_id: &Named<ClientId>,
    view: View<'_>,
) -> Result<HttpResponse, ConsoleError> {
    let View {
        refused,
        notice,
        new_secret,
        edit,
    } = view;
    let status = refused.map_or(StatusCode::OK, |(_, r)| r.status);
    let c = session
        .service
        .clients()
        .get(&session.ctx, app_id, client_id)
        .await?;
    let own = session
        .service
        .settings()
        .of(
            &session.ctx,
            app_id,
            SettingsTarget::Client(client_id),
            None,
        )
        .await?;
    let refused_in = |p: Part| refused.filter(|(part, _)| *part == p).map(|(_, r)| r);
    // A refused edit shows what was submitted, so it can be corrected.
    let current = Draft {
        name: c.name.clone(),
        features: c.features.clone(),
        allow_list: c.ip_whitelist.join("\n"),
    };
    let shown = edit.unwrap_or(&current);
    let base = format!("/console/apps/{app_id}/clients/{client_id}");
    let body = html! {
        (super::page::notice(notice))
        @if let Some(secret) = new_secret {
            section.card { (secret_box("New client secret", secret)) }
        }
        section.card aria-labelledby="details-title" {
            h2 #details-title { "Details" }
            p { "Client id: " code #client-id { (c.client_id) } }
            p { "Features: " (feature_tags(&c.features)) }
            p { "Version: " (c.version) " · "
                a href={ "/console/apps/" (app_id) "/audit?client=" (c.client_id) } { "History in the audit log" } " · "
                a href={ (base) "/access" } { "Access schemas" } " · "
                a href={ "/console/apps/" (app_id) "/oauth#client-" (c.client_id) } { "OAuth keys" } }
        }
        section.card aria-labelledby="edit-title" {
            h2 #edit-title { "Edit" }
            (refusal(refused_in(Part::Edit)))
            form method="post" action=(base) {
                (csrf(session))
                input type="hidden" name="version" value=(c.version);
                (shown.fields(session))
                button type="submit" { "Save changes" }
            }
        }
        section.card aria-labelledby="secret-title" {
            h2 #secret-title { "Rotate the secret" }
            (refusal(refused_in(Part::Secret)))
            form method="post" action={ (base) "/secret" } {
                (csrf(session))
                label for="hours_to_live" {
                    "Hours the current secret keeps working " span.hint { "(0 to 168; 0 stops it now)" }
                }
                input #hours_to_live type="number" name="hours_to_live" min="0" max="168" value="24" required;
                button type="submit" { "Rotate secret" }
            }
        }
        section.card aria-labelledby="settings-title" {
            h2 #settings-title { "Settings of this client" }
            p.hint { "These values override the application defaults for this client." }
            (refusal(refused_in(Part::Settings)))
            (super::forms::settings_form(session, &format!("{base}/settings"), &own))
        }
        section.card aria-labelledby="delete-title" {
            h2 #delete-title { "Delete" }
            (refusal(refused_in(Part::Delete)))
            form method="post" action={ (base) "/delete" } {
                (csrf(session))
                label.check for="confirm" {
                    input #confirm type="checkbox" name="confirm" value="yes" required;
                    span { "Yes, delete " strong { (c.name) } " and its secrets. This cannot be undone." }
                }
                button.danger type="submit" { "Delete client" }
            }
        }
    };
    Ok(respond(
        status,
        layout(
            &c.name,
            Some(session),
            Some(app_id.as_str()),
            Nav::Clients,
            body,
        ),
    ))
}

async fn refused_on(
    session: &Console,
    app_id: &Named<AppId>,
    client_id: &Named<ClientId>,
    part: Part,
    e: impl Into<Refusal>,
    edit: Option<&Draft>,
) -> Result<HttpResponse, ConsoleError> {
    let refused = e.into();
    let view = View {
        refused: Some((part, &refused)),
        edit,
        ..View::default()
    };
    client_page(session, app_id, client_id, view).await
}

pub async fn update(
    posted: Posted,
    path: web::Path<(Named<AppId>, Named<ClientId>)>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let (app_id, client_id) = path.into_inner();
    let change = ClientChange {
        name: Some(form.get("name").to_owned()),
        features: Some(form.all("features")),
        ip_whitelist: Some(form.lines("ip_whitelist")),
    };
    let version = form.get("version").parse::<i64>().ok();
    let outcome = session
        .service
        .clients()
        .update(&session.ctx, &app_id, &client_id, change, version)
        .await;
    match session.wrote(outcome) {
        Ok(_) => Ok(session.see_other(&format!(
            "/console/apps/{app_id}/clients/{client_id}?notice=saved"
        ))),
        Err(e) => {
            let draft = Draft::submitted(&form);
            refused_on(&session, &app_id, &client_id, Part::Edit, e, Some(&draft)).await
        }
    }
}

pub async fn rotate(
    posted: Posted,
    path: web::Path<(Named<AppId>, Named<ClientId>)>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let (app_id, client_id) = path.into_inner();
    // Not a number: the service's range message says what is expected.
    let hours = form
        .get("hours_to_live")
        .trim()
        .parse::<i64>()
        .unwrap_or(-1);
    let outcome = session
        .service
        .clients()
        .rotate_secret(&session.ctx, &app_id, &client_id, hours, None)
        .await;
    match session.wrote(outcome) {
        Ok(created) => {
            let view = View {
                notice: Some("The secret was rotated."),
                new_secret: Some(&created.secret),
                ..View::default()
            };
            let page = client_page(&session, &app_id, &client_id, view).await?;
            Ok(session.stamp(page))
        }
        Err(e) => refused_on(&session, &app_id, &client_id, Part::Secret, e, None).await,
    }
}

pub async fn delete(
    posted: Posted,
    path: web::Path<(Named<AppId>, Named<ClientId>)>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let (app_id, client_id) = path.into_inner();
    if form.get("confirm") != "yes" {
        let refused = Refusal {
            status: StatusCode::BAD_REQUEST,
            message: "Tick the confirmation box to delete this client.".into(),
            retry_after: None,
        };
        let view = View {
            refused: Some((Part::Delete, &refused)),
            ..View::default()
        };
        return client_page(&session, &app_id, &client_id, view).await;
    }
    let outcome = session
        .service
        .clients()
        .delete(&session.ctx, &app_id, &client_id, None)
        .await;
    match session.wrote(outcome) {
        Ok(()) => Ok(session.see_other(&format!("/console/apps/{app_id}/clients?notice=deleted"))),
        Err(e) => refused_on(&session, &app_id, &client_id, Part::Delete, e, None).await,
    }
}

/// Settings of one client saved from its page (see `settings.rs` for the form).
pub(super) async fn settings_refused(
    session: &Console,
    app_id: &Named<AppId>,
    client_id: &Named<ClientId>,
    e: crate::service::SettingsError,
) -> Result<HttpResponse, ConsoleError> {
    refused_on(session, app_id, client_id, Part::Settings, e, None).await
}

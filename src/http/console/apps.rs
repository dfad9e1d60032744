//! Applications (the operator's page): list and create.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::html;

use super::page::{csrf, layout, refusal, respond, secret_box, Nav};
use super::{Console, ConsoleError, Posted, Refusal};
use crate::domain::Region;
use crate::service::NewApp;

pub async fn list(session: Console) -> Result<HttpResponse, ConsoleError> {
    apps_page(&session, StatusCode::OK, None, "", "").await
}

async fn apps_page(
    session: &Console,
    status: StatusCode,
    refused: Option<&Refusal>,
    name: &str,
    region: &str,
) -> Result<HttpResponse, ConsoleError> {
    let apps = session.service.apps().list(&session.ctx).await?;
    let body = html! {
        section.card aria-labelledby="apps-title" {
            h2 #apps-title { (apps.len()) " application" @if apps.len() != 1 { "s" } }
            table.stack {
                thead { tr { th { "Name" } th { "Application id" } th { "Region" } th { "Created" } th { "Open" } } }
                tbody {
                    @for a in &apps {
                        tr {
                            td data-label="Name" { (a.name) }
                            td data-label="Application id" { code { (a.app_id) } }
                            td data-label="Region" { (a.region) }
                            td data-label="Created" { (a.created_at.format("%Y-%m-%d %H:%M UTC")) }
                            td data-label="Open" {
                                a href={ "/console/apps/" (a.app_id) "/clients" } { "Clients" } " · "
                                a href={ "/console/apps/" (a.app_id) "/settings" } { "Settings" } " · "
                                a href={ "/console/apps/" (a.app_id) "/audit" } { "Audit" }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="new-app-title" {
            h2 #new-app-title { "Create an application" }
            p.hint { "It starts with one client named owner, whose secret is shown once." }
            (refusal(refused))
            form method="post" action="/console/apps" {
                (csrf(session))
                label for="app-name" { "Name" }
                input #app-name type="text" name="name" value=(name) required;
                label for="region" { "Region" }
                select #region name="region" {
                    @for r in Region::ALL {
                        option value=(r.as_str()) selected[region == r.as_str()] { (r.as_str()) }
                    }
                }
                label.check for="signed_requests" {
                    input #signed_requests type="checkbox" name="signed_requests" value="yes";
                    span { "Signed requests " span.hint { "(check janrain-signed requests; secrets are kept sealed)" } }
                }
                label.check for="show_secrets" {
                    input #show_secrets type="checkbox" name="show_secrets" value="yes";
                    span { "Show secrets " span.hint { "(owners read secrets back, as the vendor does; secrets are kept sealed)" } }
                }
                button type="submit" { "Create application" }
            }
        }
    };
    Ok(respond(
        status,
        layout("Applications", Some(session), None, Nav::Apps, body),
    ))
}

pub async fn create(posted: Posted) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let new = NewApp {
        name: form.get("name").to_owned(),
        region: form.get("region").to_owned(),
        app_id: None,
        signed_requests: form.get("signed_requests") == "yes",
        show_secrets: form.get("show_secrets") == "yes",
    };
    let outcome = session.service.apps().create(&session.ctx, new).await;
    match session.wrote(outcome) {
        Ok((app, owner)) => {
            let body = html! {
                p.msg.ok role="status" { "Application " strong { (app.name) } " was created." }
                section.card {
                    p { "Application id: " code #app-id { (app.app_id) } }
                    p { "Owner client id: " code #client-id { (owner.client.client_id) } }
                    (secret_box("Owner client secret", &owner.secret))
                    p { a href={ "/console/apps/" (app.app_id) "/clients" } { "Open its clients" } }
                }
            };
            Ok(session.stamp(respond(
                StatusCode::CREATED,
                layout(
                    "Application created",
                    Some(&session),
                    Some(&app.app_id),
                    Nav::Apps,
                    body,
                ),
            )))
        }
        Err(e) => {
            let refused = Refusal::from(e);
            apps_page(
                &session,
                refused.status,
                Some(&refused),
                form.get("name"),
                form.get("region"),
            )
            .await
        }
    }
}

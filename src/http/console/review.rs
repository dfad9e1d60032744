//! The access review: every client at a chosen moment with its features, IP allow list and
//! access schemas (as the audit log says it was), what changed between two moments, and both
//! as CSV downloads (the Config API's own `…/audit/entitlements` answers; docs/audit.md,
//! "Access reviews").

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{html, Markup};

use super::page::{layout, query, refusal, respond, Nav};
use super::{Console, ConsoleError, Refusal};
use crate::domain::audit::format_time;
use crate::domain::audit_query::parse_time;
use crate::domain::entitlements::{ChangeDetail, EntitlementState};
use crate::domain::ids::{AppId, Named};
use crate::http::wire::entitlements::{changes_csv, entitlements_csv};
use crate::service::{EntitlementChanges, ServiceError};

fn param(req: &HttpRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
}

/// A time from the form: the browser's `datetime-local` value (`2024-06-30T12:00`, taken as
/// UTC, as the labels say), or anything the API takes (RFC 3339, a date).
fn form_time(
    name: &'static str,
    raw: Option<String>,
) -> Result<Option<DateTime<Utc>>, ServiceError> {
    let Some(raw) = raw else { return Ok(None) };
    for pattern in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&raw, pattern) {
            return Ok(Some(t.and_utc()));
        }
    }
    Ok(Some(parse_time(name, &raw)?))
}

/// A labelled `datetime-local` field (id `r-<name>`): it shows the moment the page answered
/// for (UTC, to the second), else what was sent.
fn time_field(
    name: &str,
    label: &str,
    shown: Option<&DateTime<Utc>>,
    sent: Option<&str>,
) -> Markup {
    let value = shown
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .or_else(|| sent.map(str::to_owned))
        .unwrap_or_default();
    let id = format!("r-{name}");
    html! {
        div {
            label for=(id) { (label) }
            input #(id) type="datetime-local" step="any" name=(name) value=(value);
        }
    }
}

/// `…/review?at=&from=&to=`: the table at `at` (default now) and, with `from`, the changes.
pub async fn show(
    session: Console,
    app_id: web::Path<Named<AppId>>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = app_id.into_inner();
    let mut refused: Option<Refusal> = None;
    let mut status = StatusCode::OK;
    let mut refuse = |e: ServiceError| -> Result<(), ConsoleError> {
        match e {
            e @ ServiceError::AuditInput(_) => {
                let r = Refusal::from(e);
                status = r.status;
                refused = Some(r);
                Ok(())
            }
            e => Err(e.into()),
        }
    };
    let (at_raw, from_raw, to_raw) = (param(&req, "at"), param(&req, "from"), param(&req, "to"));
    let table = match form_time("at", at_raw.clone()) {
        Ok(at) => match session
            .service
            .audit()
            .entitlements_at(&session.ctx, &app_id, at)
            .await
        {
            Ok(t) => Some(t),
            Err(e) => {
                refuse(e)?;
                None
            }
        },
        Err(e) => {
            refuse(e)?;
            None
        }
    };
    let changes = match (
        form_time("from", from_raw.clone()),
        form_time("to", to_raw.clone()),
    ) {
        (Ok(Some(from)), Ok(to)) => match session
            .service
            .audit()
            .entitlement_changes(&session.ctx, &app_id, from, to)
            .await
        {
            Ok(c) => Some(c),
            Err(e) => {
                refuse(e)?;
                None
            }
        },
        (Ok(None), Ok(_)) => None,
        (Err(e), _) | (_, Err(e)) => {
            refuse(e)?;
            None
        }
    };
    let base = format!("/console/apps/{app_id}/review");
    let body = html! {
        (refusal(refused.as_ref()))
        section.card aria-labelledby="at-title" {
            h2 #at-title { "Who could do what" }
            form method="get" action=(base) {
                div.grid {
                    (time_field("at", "At (UTC; empty: now)", table.as_ref().map(|t| &t.at), at_raw.as_deref()))
                }
                @if let Some(from) = &from_raw { input type="hidden" name="from" value=(from); }
                @if let Some(to) = &to_raw { input type="hidden" name="to" value=(to); }
                div.row { div.narrow { button type="submit" { "Show entitlements" } } }
            }
            @if let Some(t) = &table {
                p.meta {
                    "At " (format_time(&t.at)) ", after revision " (t.revision) ": "
                    "clients: " (t.state.clients.len()) ". "
                    a #review-csv href={ (base) "/export?" (query([("at", format_time(&t.at))])) } { "Download CSV" }
                }
                (clients_table(app_id.as_str(), &t.state))
            }
        }
        section.card aria-labelledby="changes-title" {
            h2 #changes-title { "Changes between two moments" }
            form method="get" action=(base) {
                div.grid {
                    (time_field("from", "After (UTC)", changes.as_ref().map(|c| &c.from), from_raw.as_deref()))
                    (time_field("to", "Up to (UTC; empty: now)", changes.as_ref().map(|c| &c.to), to_raw.as_deref()))
                }
                @if let Some(at) = &at_raw { input type="hidden" name="at" value=(at); }
                div.row { div.narrow { button type="submit" { "Show changes" } } }
            }
            @if let Some(c) = &changes {
                p.meta {
                    "changes: " (c.changes.len()) ", after " (format_time(&c.from)) " up to " (format_time(&c.to)) ". "
                    a #changes-csv href={ (base) "/export?" (query([("from", format_time(&c.from)), ("to", format_time(&c.to))])) } { "Download CSV" }
                }
                (changes_table(app_id.as_str(), c))
            }
        }
    };
    Ok(respond(
        status,
        layout(
            "Access review",
            Some(&session),
            Some(app_id.as_str()),
            Nav::Review,
            body,
        ),
    ))
}

fn list(items: &[String]) -> Markup {
    html! {
        @if items.is_empty() { span.hint { "none" } }
        @for (i, item) in items.iter().enumerate() {
            @if i > 0 { " " }
            code { (item) }
        }
    }
}

fn clients_table(app_id: &str, state: &EntitlementState) -> Markup {
    html! {
        @if state.clients.is_empty() { p.hint { "No client existed then." } }
        @else {
            table.stack #review-table {
                thead { tr { th { "Client" } th { "Features" } th { "IP allow list" } th { "Access schemas" } } }
                tbody {
                    @for (id, c) in &state.clients {
                        tr {
                            td data-label="Client" {
                                strong { (c.name) } br;
                                a href={ "/console/apps/" (app_id) "/clients/" (id) } { code { (id) } }
                            }
                            td data-label="Features" { (list(&c.features)) }
                            td data-label="IP allow list" { (list(&c.ip_whitelist)) }
                            td data-label="Access schemas" {
                                @if c.access_schemas.is_empty() { span.hint { "none: the features decide" } }
                                @for (entity_type, lists) in &c.access_schemas {
                                    @for (access, attrs) in [("read", &lists.read), ("write", &lists.write)] {
                                        @if let Some(attrs) = attrs {
                                            div { (entity_type) " " (access) ": " (list(attrs)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn detail(d: &ChangeDetail) -> Markup {
    let opt = |l: &Option<Vec<String>>| match l {
        Some(l) => list(l),
        None => html! { span.hint { "no schema" } },
    };
    match d {
        ChangeDetail::Created {
            features,
            ip_whitelist,
        } => html! { "features " (list(features)) "; allow list " (list(ip_whitelist)) },
        ChangeDetail::Features { features } => list(features),
        ChangeDetail::AllowList { from, to } => html! { (list(from)) " → " (list(to)) },
        ChangeDetail::AccessSchema {
            entity_type,
            access_type,
            from,
            to,
        } => html! { (entity_type) " " (access_type) ": " (opt(from)) " → " (opt(to)) },
        ChangeDetail::Secret {
            old_secret_hours_to_live,
            restored,
        } => html! {
            @if *restored { "restored from a snapshot" }
            @else if let Some(h) = old_secret_hours_to_live { "old secrets kept " (h) " h" }
        },
    }
}

fn changes_table(app_id: &str, c: &EntitlementChanges) -> Markup {
    html! {
        @if c.changes.is_empty() { p.hint { "Nothing changed." } }
        @else {
            table.stack #changes-table {
                thead { tr { th { "When" } th { "Client" } th { "Change" } th { "Detail" } th { "By" } } }
                tbody {
                    @for ch in &c.changes {
                        tr {
                            td data-label="When" { (format_time(&ch.at)) br; span.meta { "revision " (ch.revision) } }
                            td data-label="Client" {
                                (ch.name) br;
                                a href={ "/console/apps/" (app_id) "/clients/" (ch.client) } { code { (ch.client) } }
                            }
                            td data-label="Change" { (ch.kind.as_str().replace('_', " ")) }
                            td data-label="Detail" { (detail(&ch.detail)) }
                            td data-label="By" { code { (ch.actor) } }
                        }
                    }
                }
            }
        }
    }
}

/// `…/review/export?at=` (the table) or `?from=&to=` (the changes): the API's CSV.
pub async fn export(
    session: Console,
    app_id: web::Path<Named<AppId>>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = app_id.into_inner();
    let (body, name) = match form_time("from", param(&req, "from"))? {
        Some(from) => {
            let to = form_time("to", param(&req, "to"))?;
            let c = session
                .service
                .audit()
                .entitlement_changes(&session.ctx, &app_id, from, to)
                .await?;
            (changes_csv(&c), format!("entitlement-changes-{app_id}.csv"))
        }
        None => {
            let at = form_time("at", param(&req, "at"))?;
            let t = session
                .service
                .audit()
                .entitlements_at(&session.ctx, &app_id, at)
                .await?;
            (entitlements_csv(&t), format!("entitlements-{app_id}.csv"))
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8; header=present")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(body))
}

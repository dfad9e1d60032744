//! The audit trail: a filtered timeline with each event's field diff, changes per day as an
//! SVG chart, the hash-chain status, and CSV/NDJSON exports (the Config API's own streams).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, PreEscaped};
use serde_json::Value;

use super::page::{layout, query, refusal, respond, Nav};
use super::{Console, ConsoleError, Refusal};
use crate::domain::audit::AuditAction;
use crate::domain::audit::{format_time, AuditEvent};
use crate::domain::audit_query::{AuditQuery, Format, Order};
use crate::domain::audit_verify::Verdict;
use crate::domain::ids::{AppId, Named};
use crate::domain::Feature;
use crate::service::{AuditPage, ServiceError};

/// Events per page of the timeline.
const PAGE: u32 = 50;
/// Days in the chart.
const CHART_DAYS: u32 = 30;
/// Filter fields of the form, in the Config API's parameter names.
const FILTERS: [&str; 6] = ["client", "actor", "action", "feature", "since", "until"];

/// The query's pairs, empty form fields dropped (a browser sends every field).
fn pairs(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
}

/// The query of a link: the `keep` filters of `pairs`, then `extra`.
fn query_string(pairs: &[(String, String)], keep: &[&str], extra: &[(&str, &str)]) -> String {
    let kept = pairs.iter().filter(|(k, _)| keep.contains(&k.as_str()));
    query(
        kept.map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied()),
    )
}

pub async fn timeline(
    session: Console,
    app_id: web::Path<Named<AppId>>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = app_id.into_inner();
    let all = pairs(&req);
    // Walking the chain reads the whole log: only when asked (`verify=1`), so the timeline
    // stays fast however long the log is.
    let verify = all.iter().any(|(k, v)| k == "verify" && v == "1");
    let pairs: Vec<(String, String)> = all
        .into_iter()
        .filter(|(k, _)| FILTERS.contains(&k.as_str()) || k == "cursor")
        .collect();
    let page: Result<AuditPage, ServiceError> = match AuditQuery::from_pairs(pairs.clone()) {
        Ok(q) => {
            session
                .service
                .audit()
                .page(&session.ctx, &app_id, &q.filter, q.order, q.after, PAGE)
                .await
        }
        Err(e) => Err(e.into()),
    };
    let (status, page, refused) = match page {
        Ok(page) => (StatusCode::OK, Some(page), None),
        Err(e @ ServiceError::AuditInput(_)) => {
            let r = Refusal::from(e);
            (r.status, None, Some(r))
        }
        Err(e) => return Err(e.into()),
    };
    let days = session
        .service
        .audit_daily_changes(&session.ctx, &app_id, CHART_DAYS)
        .await?;
    let verdict = match verify {
        true => Some(
            session
                .service
                .audit()
                .verify(&session.ctx, &app_id, Vec::new())
                .await?,
        ),
        false => None,
    };
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let base = format!("/console/apps/{app_id}/audit");
    let body = html! {
        @match &verdict {
            Some(v) => (chain_status(v)),
            None => p {
                a.button.secondary href={ (base) "?" (query_string(&pairs, &FILTERS, &[("verify", "1")])) } {
                    "Verify the hash chain"
                }
                " " span.hint { "(reads the whole log)" }
            },
        }
        section.card aria-labelledby="chart-title" {
            h2 #chart-title { "Changes per day (last " (CHART_DAYS) " days, UTC)" }
            (chart(&days))
        }
        section.card aria-labelledby="filter-title" {
            h2 #filter-title { "Filter" }
            (refusal(refused.as_ref()))
            form method="get" action=(base) {
                div.grid {
                    div { label for="f-client" { "Client id" } input #f-client type="text" name="client" value=(get("client")) spellcheck="false"; }
                    div { label for="f-actor" { "Actor " span.hint { "(client id or operator)" } } input #f-actor type="text" name="actor" value=(get("actor")) spellcheck="false"; }
                    div { label for="f-action" { "Action" }
                        input #f-action type="text" name="action" value=(get("action")) list="actions" spellcheck="false";
                        datalist #actions {
                            @for a in AuditAction::ALL {
                                option value=(a.as_str()) {}
                            }
                        }
                    }
                    div { label for="f-feature" { "Feature added or removed" }
                        select #f-feature name="feature" {
                            option value="" selected[get("feature").is_empty()] { "Any" }
                            @for f in Feature::ALL {
                                option value=(f.as_str()) selected[get("feature") == f.as_str()] { (f.as_str()) }
                            }
                        }
                    }
                    div { label for="f-since" { "Since (UTC date, inclusive)" } input #f-since type="date" name="since" value=(get("since")); }
                    div { label for="f-until" { "Until (UTC date, exclusive)" } input #f-until type="date" name="until" value=(get("until")); }
                }
                div.row {
                    div.narrow { button type="submit" { "Apply filters" } }
                    div.narrow { a.button.secondary href=(base) { "Clear" } }
                }
            }
            p {
                "Export what the filters select: "
                a href={ (base) "/export?" (query_string(&pairs, &FILTERS, &[("format", "csv")])) } { "CSV" }
                " · "
                a href={ (base) "/export?" (query_string(&pairs, &FILTERS, &[("format", "ndjson")])) } { "NDJSON" }
            }
        }
        @if let Some(page) = &page {
            section aria-labelledby="events-title" {
                h2 #events-title { "Events, newest first" }
                @if page.events.is_empty() { p.hint { "No event matches." } }
                ol.timeline {
                    @for e in &page.events { li { (event(app_id.as_str(), &e.event)) } }
                }
                @if let Some(next) = &page.next {
                    p { a.button.secondary href={ (base) "?" (query_string(&pairs, &FILTERS, &[("cursor", &next.encode())])) } { "Older events" } }
                }
            }
        }
    };
    Ok(respond(
        status,
        layout(
            "Audit",
            Some(&session),
            Some(app_id.as_str()),
            Nav::Audit,
            body,
        ),
    ))
}

fn chain_status(verdict: &Verdict) -> Markup {
    match verdict {
        Verdict::Intact {
            count, head_seq, ..
        } => html! {
            p.msg.ok role="status" { "Hash chain verified up to revision " (head_seq) " (" (count) " events): the chain is intact." }
        },
        Verdict::Broken { at, verified } => html! {
            p.msg.error role="alert" { "Hash chain broken at revision " (at.seq) " (" (at.problem.as_str()) "): " (at.message) }
            p.hint { (verified) " events verified before the break; `latchkey audit verify` says more." }
        },
    }
}

/// Bars per day; each bar's `<title>` gives its date and count.
fn chart(days: &[(chrono::NaiveDate, i64)]) -> Markup {
    const W: usize = 1000;
    const H: usize = 120;
    const BOTTOM: usize = 1;
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let total: i64 = days.iter().map(|d| d.1).sum();
    let slot = W as f64 / days.len().max(1) as f64;
    let label = format!("{total} changes in the last {} days", days.len());
    html! {
        // Stretched to the page's width at a fixed height; the dates are HTML, so they stay
        // readable at any width.
        svg.chart viewBox={ "0 0 " (W) " " (H) } preserveAspectRatio="none" role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            line x1="0" y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) stroke="#9aa6b2" {}
            @for (i, (day, n)) in days.iter().enumerate() {
                @let height = (*n as f64 / max as f64) * (H - BOTTOM - 4) as f64;
                rect.bar x=(format!("{:.1}", i as f64 * slot + 1.0)) y=(format!("{:.1}", (H - BOTTOM) as f64 - height))
                    width=(format!("{:.1}", (slot - 2.0).max(1.0))) height=(format!("{height:.1}")) {
                    title { (day) ": " (n) " changes" }
                }
            }
        }
        @if let (Some(first), Some(last)) = (days.first(), days.last()) {
            div.chart-axis { span { (first.0) } span { (last.0) } }
        }
        p.hint { (label) "; the busiest day had " (max) "." }
    }
}

fn event(app_id: &str, e: &AuditEvent) -> Markup {
    let (added, removed) = e.feature_delta();
    html! {
        div.row {
            div { strong { (e.action) } }
            div.meta { "revision " (e.seq) " · " (format_time(&e.occurred_at)) }
        }
        p.meta {
            "by " code { (e.actor) }
            @if let Some(ip) = &e.actor_ip { " from " code { (ip) } }
            @if let Some(c) = &e.target_client_id {
                " · client "
                a href={ "/console/apps/" (app_id) "/clients/" (c) } { code { (c) } }
            }
        }
        @if !added.is_empty() || !removed.is_empty() {
            p { "Features: "
                @for f in &added { span.tag.add { "+ " (f) } " " }
                @for f in &removed { span.tag.remove { "− " (f) } " " }
            }
        }
        (changes(&e.changes))
    }
}

/// `{"field": {"from": …, "to": …}}` as a table; any other shape as its JSON.
fn changes(changes: &Value) -> Markup {
    let Some(map) = changes.as_object() else {
        return html! { pre.mono { (changes.to_string()) } };
    };
    if map.is_empty() {
        return html! {};
    }
    let is_diff = map
        .values()
        .all(|v| v.get("from").is_some() || v.get("to").is_some());
    let show = |v: Option<&Value>| match v {
        None | Some(Value::Null) => PreEscaped("<span class=\"hint\">—</span>".to_owned()),
        Some(v) => html! { code { (v.to_string()) } },
    };
    html! {
        table.stack {
            thead { tr { th { "Field" } @if is_diff { th { "From" } th { "To" } } @else { th { "Value" } } } }
            tbody {
                @for (field, v) in map {
                    tr {
                        td data-label="Field" { (field) }
                        @if is_diff {
                            td data-label="From" { (show(v.get("from"))) }
                            td data-label="To" { (show(v.get("to"))) }
                        } @else {
                            td data-label="Value" { code { (v.to_string()) } }
                        }
                    }
                }
            }
        }
    }
}

/// `…/audit/export?format=csv|ndjson&<filters>`: the whole filtered log, oldest first.
pub async fn export(
    session: Console,
    app_id: web::Path<Named<AppId>>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = app_id.into_inner();
    let q = AuditQuery::from_pairs(pairs(&req)).map_err(ServiceError::from)?;
    let format = match q.format {
        Some(f @ (Format::Csv | Format::Ndjson)) => f,
        _ => Format::Csv,
    };
    let stream = session
        .service
        .audit()
        .stream(&session.ctx, &app_id, q.filter, Order::OldestFirst)
        .await?;
    Ok(crate::http::config::stream_response(
        app_id.as_str(),
        format,
        stream,
    ))
}

//! The application's OAuth page (read-only): issuer, token lifetime, the signing keys and the
//! public keys registered for clients (private_key_jwt). Changes go through the API
//! (docs/oauth.md).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;
use serde_json::Value;

use super::page::{layout, respond, Nav};
use super::{Console, ConsoleError};
use crate::domain::ids::{AppId, Named};
use crate::service::oauth::OAuth;

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A member of a JWK as text ("" when absent).
fn member<'a>(key: &'a Value, name: &str) -> &'a str {
    key.get(name).and_then(Value::as_str).unwrap_or("")
}

pub async fn show(
    session: Console,
    oauth: web::Data<OAuth>,
    path: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConsoleError> {
    let app_id = path.into_inner();
    let o = oauth.overview(&session.ctx, &app_id).await?;
    let body = html! {
        section.card aria-labelledby="issuer-title" {
            h2 #issuer-title { "Issuer" }
            p { code #issuer { (o.issuer) } }
            p { "Token lifetime: " strong #lifetime { (o.settings.token_lifetime_secs) " s" }
                " · next keys: " strong { (o.settings.signing_alg.as_str()) } }
            p.hint { "Metadata: " code { (o.issuer) "/.well-known/oauth-authorization-server" }
                " · key set: " code { (o.issuer) "/jwks" } }
        }
        section.card aria-labelledby="keys-title" {
            h2 #keys-title { "Signing keys" }
            table.stack #signing-keys {
                thead { tr { th { "Key id" } th { "Algorithm" } th { "Created" } th { "Signs from" } th { "Leaves the key set" } th { "State" } } }
                tbody {
                    @for k in &o.keys {
                        tr {
                            td data-label="Key id" { code { (k.kid) } }
                            td data-label="Algorithm" { (k.alg.as_str()) }
                            td data-label="Created" { (when(k.created_at)) }
                            td data-label="Signs from" { (when(k.signs_from)) }
                            td data-label="Leaves the key set" { @if let Some(r) = k.retires_at { (when(r)) } @else { "—" } }
                            td data-label="State" {
                                @if k.signing { strong { "signing" } }
                                @else if k.retires_at.is_some() { "retiring" }
                                @else { "next" }
                            }
                        }
                    }
                }
            }
            p.hint { "Rotate with " code { "latchkey oauth keys rotate --app " (app_id) } " or "
                code { "POST /apps/" (app_id) "/oauth/rotate" } " (operator)." }
        }
        section.card aria-labelledby="clients-title" {
            h2 #clients-title { "Client keys (private_key_jwt)" }
            @if o.clients.is_empty() {
                p { "No client has registered keys." }
            } @else {
                table.stack #client-keys {
                    thead { tr { th { "Client" } th { "Key id" } th { "Type" } th { "Algorithm" } } }
                    tbody {
                        @for (client_id, jwks) in &o.clients {
                            @for (i, key) in jwks.get("keys").and_then(Value::as_array).into_iter().flatten().enumerate() {
                                // The client page links to the first row of the client's keys
                                // (one id per client: a client may have several keys).
                                tr id=[(i == 0).then(|| format!("client-{client_id}"))] {
                                    td data-label="Client" {
                                        a href={ "/console/apps/" (app_id) "/clients/" (client_id) } { code { (client_id) } }
                                    }
                                    td data-label="Key id" { code { (member(key, "kid")) } }
                                    td data-label="Type" { (member(key, "kty")) " " (member(key, "crv")) }
                                    td data-label="Algorithm" { (member(key, "alg")) }
                                }
                            }
                        }
                    }
                }
            }
            p.hint { "Owners register keys with " code { "PUT /config/" (app_id) "/clients/{clientId}/jwks" } "." }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            "OAuth",
            Some(&session),
            Some(app_id.as_str()),
            Nav::OAuth,
            body,
        ),
    ))
}

//! Access schemas of a client: for each entity type and access (read, write), the attributes
//! picked from the type's attribute tree.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::page::{csrf, layout, refusal, respond, Nav};
use super::{Console, ConsoleError, NoticeQuery, Posted, Refusal};
use crate::domain::access::AccessType;
use crate::domain::entity_type::{AttrDef, TypeName};
use crate::domain::ids::{AppId, ClientId, Named};
use crate::service::{AccessSchemaError, SchemaKey};

const ACCESS_TYPES: [AccessType; 2] = [AccessType::Read, AccessType::Write];

pub async fn show(
    session: Console,
    path: web::Path<(Named<AppId>, Named<ClientId>)>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (app_id, client_id) = path.into_inner();
    let notice = query.text(&[
        ("saved", "Access schema saved."),
        (
            "removed",
            "Access schema removed: the client's features alone decide.",
        ),
    ]);
    access_page(&session, &app_id, &client_id, StatusCode::OK, None, notice).await
}

/// One attribute and its children, each a checkbox named `attributes` with its path as value.
fn tree(defs: &[AttrDef], prefix: &str, chosen: &[String], form_id: &str, root: bool) -> Markup {
    html! {
        ul.tree.root[root] {
            @for d in defs {
                @let path = if prefix.is_empty() { d.name.clone() } else { format!("{prefix}.{}", d.name) };
                @let id = format!("{form_id}-{}", path.replace('.', "-"));
                @let reserved = root && crate::domain::entity_type::is_reserved(&d.name);
                li {
                    label.check for=(id) {
                        input id=(id) type="checkbox" name="attributes" value=(path)
                            checked[reserved || chosen.contains(&path)]
                            disabled[reserved];
                        span { code { (d.name) } " " span.hint { (d.kind.as_str()) @if reserved { " · always included" } } }
                    }
                    @if !d.children().is_empty() {
                        (tree(d.children(), &path, chosen, form_id, false))
                    }
                }
            }
        }
    }
}

async fn access_page(
    session: &Console,
    app_id: &Named<AppId>,
    client_id: &Named<ClientId>,
    status: StatusCode,
    refused: Option<(&str, &str, &Refusal)>,
    notice: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let client = session
        .service
        .clients()
        .get(&session.ctx, app_id, client_id)
        .await?;
    let types = session
        .service
        .entity_types()
        .list(&session.ctx, app_id)
        .await?;
    let mut forms = Vec::new();
    for t in &types {
        for access in ACCESS_TYPES {
            let chosen = match session
                .service
                .access_schemas()
                .get(
                    &session.ctx,
                    app_id,
                    &SchemaKey {
                        client_id: client_id.clone(),
                        type_name: Named::Id(TypeName::from_trusted(t.name.as_str())),
                        access_type: access,
                    },
                )
                .await
            {
                Ok(view) => Some(view.attribute_names().unwrap_or_default()),
                Err(AccessSchemaError::NotFound) => None,
                Err(AccessSchemaError::Service(e)) => return Err(e.into()),
            };
            forms.push((t, access, chosen));
        }
    }
    let base = format!("/console/apps/{app_id}/clients/{client_id}/access");
    let body = html! {
        (super::page::notice(notice))
        p { "Client " a href={ "/console/apps/" (app_id) "/clients/" (client_id) } { (client.name) }
            ". Without a schema, the client's features alone decide what it may read or write." }
        @if types.is_empty() {
            p.hint { "This application has no entity types yet (create them with the Config API)." }
        }
        @for (t, access, chosen) in &forms {
            @let form_id = format!("{}-{}", t.name, access);
            section.card aria-labelledby={ (form_id) "-title" } {
                h2 id={ (form_id) "-title" } { code { (t.name) } " · " (access) }
                p.hint {
                    @match chosen {
                        Some(_) => "A schema restricts this access to the ticked attributes.",
                        None => "No schema: the whole type is open to the client's features.",
                    }
                }
                @if let Some((rt, ra, r)) = refused {
                    @if rt == t.name && ra == access.as_str() { (refusal(Some(r))) }
                }
                form method="post" action={ (base) "/" (t.name) "/" (access) } {
                    (csrf(session))
                    fieldset {
                        legend { "Attributes" }
                        (tree(&t.attr_defs(), "", chosen.as_deref().unwrap_or(&[]), &form_id, true))
                    }
                    div.row {
                        div.narrow { button type="submit" name="action" value="save" { "Save " (access) " schema" } }
                        @if chosen.is_some() {
                            div.narrow { button.secondary type="submit" name="action" value="remove" { "Remove schema" } }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        status,
        layout(
            "Access schemas",
            Some(session),
            Some(app_id.as_str()),
            Nav::Clients,
            body,
        ),
    ))
}

/// `/console/apps/{app_id}/clients/{client_id}/access/{type_name}/{access_type}`.
type SchemaPath = web::Path<(Named<AppId>, Named<ClientId>, Named<TypeName>, String)>;

pub async fn save(posted: Posted, path: SchemaPath) -> Result<HttpResponse, ConsoleError> {
    let Posted { session, form } = posted;
    let (app_id, client_id, type_name, access) = path.into_inner();
    let remove = form.get("action") == "remove";
    let notice = if remove { "removed" } else { "saved" };
    let result: Result<(), AccessSchemaError> = async {
        let schema = SchemaKey {
            client_id: client_id.clone(),
            type_name: type_name.clone(),
            access_type: access.parse()?,
        };
        if remove {
            let outcome = session
                .service
                .access_schemas()
                .delete(&session.ctx, &app_id, &schema)
                .await;
            session.wrote(outcome)
        } else {
            let outcome = session
                .service
                .access_schemas()
                .set(&session.ctx, &app_id, &schema, &form.all("attributes"))
                .await;
            Ok(session.wrote(outcome).map(|_| ())?)
        }
    }
    .await;
    match result {
        Ok(()) => Ok(session.see_other(&format!(
            "/console/apps/{app_id}/clients/{client_id}/access?notice={notice}"
        ))),
        Err(e) => {
            let refused = Refusal::from(e);
            access_page(
                &session,
                &app_id,
                &client_id,
                refused.status,
                Some((type_name.as_str(), &access, &refused)),
                None,
            )
            .await
        }
    }
}

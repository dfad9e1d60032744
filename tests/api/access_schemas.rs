//! Config API access schemas:
//! `/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{read|write}`, and the guard
//! that keeps entity type changes from breaking them.

use reqwest::Method;
use serde_json::{json, Value};

use crate::entity_types::{create_user_type, types_path, user_attr_defs};
use crate::helpers::*;

pub fn schema_path(o: &Owner, client: &str, type_name: &str, access: &str) -> String {
    format!(
        "/config/{}/clients/{client}/accessSchemas/{type_name}/{access}",
        o.app_id
    )
}

pub async fn put_schema(
    app: &TestApp,
    o: &Owner,
    client: &str,
    access: &str,
    attributes: Value,
) -> (u16, Value) {
    app.by(o)
        .put(
            &schema_path(o, client, "user", access),
            &json!({ "attributes": attributes }),
        )
        .await
        .pair()
}

async fn get_schema(app: &TestApp, o: &Owner, client: &str, access: &str) -> (u16, Value) {
    app.by(o)
        .get(&schema_path(o, client, "user", access))
        .await
        .pair()
}

fn with_reserved(rest: &[&str]) -> Value {
    let mut all = vec!["id", "uuid", "created", "lastUpdated"];
    all.extend_from_slice(rest);
    json!({ "attributes": all })
}

async fn schema_rows(app: &TestApp, app_id: &str) -> i64 {
    app.scalar(
        "SELECT count(*) FROM access_schemas WHERE app_id = $1",
        &[app_id],
    )
    .await
}

/// An application with the seed's `user` type and one client; returns (owner, client id).
async fn setup(app: &TestApp) -> (Owner, String) {
    let owner = app.create_app("shop").await;
    create_user_type(app, &owner).await;
    let id = app
        .add_client(&owner, "mailer", &["direct_read_access"])
        .await;
    (owner, id)
}

#[tokio::test]
async fn put_get_delete_round_trip_with_every_spelling() {
    let app = spawn_app().await;
    let (owner, client) = setup(&app).await;
    let (status, body) = put_schema(
        &app,
        &owner,
        &client,
        "read",
        json!([
            "email",
            "/givenName",
            "/optIns/newsletter",
            "/primaryAddress.city",
            "interests.name"
        ]),
    )
    .await;
    let stored = with_reserved(&[
        "email",
        "givenName",
        "optIns.newsletter",
        "primaryAddress.city",
        "interests.name",
    ]);
    assert_eq!((status, &body), (200, &stored));
    assert_eq!(
        get_schema(&app, &owner, &client, "read").await,
        (200, stored.clone())
    );
    // The stored form is canonical.
    let attributes: Vec<String> = app
        .scalar(
            "SELECT attributes FROM access_schemas WHERE app_id = $1 AND client_id = $2",
            &[&owner.app_id, &client],
        )
        .await;
    assert_eq!(json!({ "attributes": attributes }), stored);
    // Read and write are separate schemas.
    assert_eq!(
        get_schema(&app, &owner, &client, "write").await,
        (404, errors("Access schema not found."))
    );

    app.by(&owner)
        .delete(&schema_path(&owner, &client, "user", "read"))
        .await
        .is(204, Value::Null);
    assert_eq!(
        get_schema(&app, &owner, &client, "read").await,
        (404, errors("Access schema not found."))
    );
    let again = app
        .by(&owner)
        .delete(&schema_path(&owner, &client, "user", "read"))
        .await
        .pair();
    assert_eq!(again, (404, errors("Access schema not found.")));

    // The last two audit rows whole: ids by what they name, the time and the request id (new on
    // every run) redacted.
    let rows = app.audit_rows(&owner.app_id).await;
    let names = [
        (owner.app_id.as_str(), "app"),
        (owner.client_id.as_str(), "owner"),
        (client.as_str(), "client"),
    ];
    insta::assert_json_snapshot!(named_json(&json!(rows[rows.len() - 2..]), &names), {
        "[].event_id" => "[event id]",
        "[].occurred_at" => "[time]",
        "[].request_id" => "[request id]",
    });
    // What was set is what the API showed.
    assert_eq!(
        rows[rows.len() - 2]["changes"]["attributes"]["to"],
        stored["attributes"]
    );
}

#[tokio::test]
async fn setting_replaces_the_list_and_an_unchanged_list_is_not_audited() {
    let app = spawn_app().await;
    let (owner, client) = setup(&app).await;
    put_schema(&app, &owner, &client, "write", json!(["email", "gender"])).await;
    let (status, body) = put_schema(&app, &owner, &client, "write", json!(["optIns"])).await;
    assert_eq!((status, body), (200, with_reserved(&["optIns"])));
    let rows = app.audit_rows(&owner.app_id).await;
    assert_eq!(
        rows.last().unwrap()["changes"]["attributes"],
        json!({"from": ["id", "uuid", "created", "lastUpdated", "email", "gender"],
               "to": ["id", "uuid", "created", "lastUpdated", "optIns"]})
    );
    // The same list in another spelling is the same list.
    let (status, _) = put_schema(&app, &owner, &client, "write", json!(["/optIns", "uuid"])).await;
    assert_eq!(status, 200);
    assert_eq!(app.audit_count(&owner.app_id, "access_schema.set").await, 2);
}

#[tokio::test]
async fn reserved_attributes_are_always_included_and_an_empty_list_allows_only_them() {
    let app = spawn_app().await;
    let (owner, client) = setup(&app).await;
    let (status, body) = put_schema(&app, &owner, &client, "read", json!([])).await;
    assert_eq!((status, body), (200, with_reserved(&[])));
    let (status, body) = put_schema(
        &app,
        &owner,
        &client,
        "read",
        json!(["lastUpdated", "id", "email", "id"]),
    )
    .await;
    assert_eq!((status, body), (200, with_reserved(&["email"])));
}

#[tokio::test]
async fn a_parent_covers_its_children() {
    let app = spawn_app().await;
    let (owner, client) = setup(&app).await;
    let (status, body) = put_schema(
        &app,
        &owner,
        &client,
        "read",
        json!([
            "primaryAddress.city",
            "primaryAddress",
            "/interests/weight",
            "interests",
            "interests.name"
        ]),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, with_reserved(&["primaryAddress", "interests"]))
    );
}

#[tokio::test]
async fn bad_schemas_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (owner, client) = setup(&app).await;
    put_schema(&app, &owner, &client, "read", json!(["email"])).await;
    for (attributes, message) in [
        (
            json!(["email", "/primaryAddress/country"]),
            "Attribute does not exist: /primaryAddress/country",
        ),
        (json!(["shoeSize"]), "Attribute does not exist: shoeSize"),
        (
            json!(["email.domain"]),
            "Attribute does not exist: email.domain",
        ),
        (
            json!(["primaryAddress..city"]),
            "Attribute does not exist: primaryAddress..city",
        ),
        (json!(["Email"]), "Attribute does not exist: Email"),
        (json!("email"), "Not a valid list."),
        (json!(["email", 3]), "Not a valid string."),
    ] {
        let got = put_schema(&app, &owner, &client, "read", attributes.clone()).await;
        assert_eq!(got, (400, errors(message)), "{attributes}");
    }
    let got = app
        .by(&owner)
        .put(
            &schema_path(&owner, &client, "user", "read"),
            &json!({"attrs": ["email"]}),
        )
        .await
        .pair();
    assert_eq!(got, (400, errors("Missing data for required field.")));
    // Every method on a path naming a bad access type, an unknown client or an unknown type.
    let unknown_client = "z".repeat(32);
    let mut cases: Vec<(&str, &str, &str, u16, &str)> = ["admin", "READ", "read_with_token"]
        .into_iter()
        .map(|access| {
            (
                client.as_str(),
                "user",
                access,
                400,
                "Not a valid access type.",
            )
        })
        .collect();
    cases.push((&unknown_client, "user", "read", 404, "Client ID not found."));
    cases.push((&client, "device", "read", 404, "Entity type not found."));
    for (target, type_name, access, status, message) in cases {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let path = schema_path(&owner, target, type_name, access);
            app.as_owner(&owner, method.clone(), &path)
                .json(&json!({"attributes": ["email"]}))
                .fetch()
                .await
                .case_is(status, errors(message), format_args!("{method} {path}"));
        }
    }
    assert_eq!(
        get_schema(&app, &owner, &client, "read").await,
        (200, with_reserved(&["email"]))
    );
    assert_eq!(schema_rows(&app, &owner.app_id).await, 1);
    assert_eq!(app.audit_count(&owner.app_id, "access_schema.set").await, 1);
    assert_eq!(
        app.audit_count(&owner.app_id, "access_schema.delete").await,
        0
    );
}

#[tokio::test]
async fn only_owners_and_the_operator_manage_schemas() {
    let app = spawn_app().await;
    let (owner, client) = setup(&app).await;
    let Made { id, secret, .. } = app.make_client(&owner, "backend", &["direct_access"]).await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let got = app
            .as_client(
                &id,
                &secret,
                method.clone(),
                &schema_path(&owner, &client, "user", "read"),
            )
            .json(&json!({"attributes": ["email"]}))
            .fetch()
            .await
            .pair();
        assert_eq!(got, (403, errors("Forbidden")), "{method}");
    }
    // A client cannot widen its own schema either.
    let got = app
        .by_client(&id, &secret)
        .put(
            &schema_path(&owner, &id, "user", "read"),
            &json!({"attributes": ["email"]}),
        )
        .await
        .pair();
    assert_eq!(got, (403, errors("Forbidden")));
    assert_eq!(schema_rows(&app, &owner.app_id).await, 0);
    app.operator()
        .put(
            &schema_path(&owner, &client, "user", "write"),
            &json!({"attributes": ["optIns"]}),
        )
        .await
        .is(200, with_reserved(&["optIns"]));
    assert_eq!(
        app.audit_rows(&owner.app_id).await.last().unwrap()["actor"],
        "operator"
    );
}

#[tokio::test]
async fn tenants_are_isolated() {
    let app = spawn_app().await;
    let (a, _) = setup(&app).await;
    let b = app.create_app("other shop").await;
    create_user_type(&app, &b).await;
    let b_client = app.add_client(&b, "b's", &["direct_access"]).await;
    // B's client through A's path: not a client of A.
    let got = put_schema(&app, &a, &b_client, "read", json!(["email"])).await;
    assert_eq!(got, (404, errors("Client ID not found.")));
    // A's owner on B's path: its credentials do not belong there.
    let got = put_schema_as(&app, &a, &b, &b_client).await;
    assert_eq!(got, (401, errors("Authentication required.")));
    assert_eq!(schema_rows(&app, &b.app_id).await, 0);
}

async fn put_schema_as(
    app: &TestApp,
    caller: &Owner,
    target_app: &Owner,
    client: &str,
) -> (u16, Value) {
    app.by(caller)
        .put(
            &schema_path(target_app, client, "user", "read"),
            &json!({"attributes": ["email"]}),
        )
        .await
        .pair()
}

#[tokio::test]
async fn a_deleted_client_takes_its_schemas_along() {
    let app = spawn_app().await;
    let (owner, client) = setup(&app).await;
    put_schema(&app, &owner, &client, "read", json!(["email"])).await;
    put_schema(&app, &owner, &client, "write", json!(["email"])).await;
    assert_eq!(schema_rows(&app, &owner.app_id).await, 2);
    app.config(&owner)
        .delete_client(&client)
        .await
        .status_is(204);
    assert_eq!(schema_rows(&app, &owner.app_id).await, 0);
    // And the type it used can now go.
    app.by(&owner)
        .delete(&format!("{}/user", types_path(&owner)))
        .await
        .status_is(204);
}

#[tokio::test]
async fn type_changes_that_would_break_a_schema_are_refused_naming_the_clients() {
    let app = spawn_app().await;
    let (owner, mailer) = setup(&app).await;
    let ads = app.add_client(&owner, "ads", &["direct_read_access"]).await;
    put_schema(
        &app,
        &owner,
        &mailer,
        "read",
        json!(["email", "primaryAddress.city"]),
    )
    .await;
    put_schema(
        &app,
        &owner,
        &ads,
        "write",
        json!(["gender", "primaryAddress"]),
    )
    .await;
    let mut users = [mailer.clone(), ads.clone()];
    users.sort();
    let type_path = format!("{}/user", types_path(&owner));

    // Deleting the type.
    let got = app.by(&owner).delete(&type_path).await.pair();
    assert_eq!(
        got,
        (
            409,
            errors(&format!(
                "Entity type user is used by the access schemas of clients: {}, {}.",
                users[0], users[1]
            ))
        )
    );

    // Replacing it without attributes the schemas name.
    let mut defs = user_attr_defs();
    let kept: Vec<Value> = defs
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] != "email" && d["name"] != "gender")
        .cloned()
        .collect();
    let got = app
        .by(&owner)
        .put(&type_path, &json!({"attr_defs": kept}))
        .await
        .pair();
    assert_eq!(
        got,
        (
            409,
            errors(&format!(
                "Attributes email, gender are used by the access schemas of clients: {}, {}.",
                users[0], users[1]
            ))
        )
    );
    // Turning the object that a schema reaches into a string breaks `primaryAddress.city`.
    for d in defs.as_array_mut().unwrap() {
        if d["name"] == "primaryAddress" {
            *d = json!({"name": "primaryAddress", "type": "string"});
        }
    }
    let got = app
        .by(&owner)
        .put(&type_path, &json!({"attr_defs": defs}))
        .await
        .pair();
    assert_eq!(
        got,
        (
            409,
            errors(&format!(
                "Attribute primaryAddress.city is used by the access schemas of clients: {mailer}."
            ))
        )
    );
    // Removing a child that only the parent-naming schema covers is fine: `primaryAddress`
    // still names something.
    let mut defs = user_attr_defs();
    for d in defs.as_array_mut().unwrap() {
        if d["name"] == "primaryAddress" {
            d["attr_defs"] = json!([{"name": "city", "type": "string"}]);
        }
    }
    app.by(&owner)
        .put(&type_path, &json!({"attr_defs": defs}))
        .await
        .status_is(200);
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.update").await,
        1
    );
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.delete").await,
        0
    );

    // Once the schemas are gone, the type can be deleted.
    for (client, access) in [(&mailer, "read"), (&ads, "write")] {
        app.by(&owner)
            .delete(&schema_path(&owner, client, "user", access))
            .await
            .status_is(204);
    }
    app.by(&owner).delete(&type_path).await.status_is(204);
}

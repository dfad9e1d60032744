//! Config API entity types: `/config/{appId}/entityTypes[/{typeName}]`. Also the fixtures the
//! access schema and access decision tests share.

#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

pub fn types_path(o: &Owner) -> String {
    format!("/config/{}/entityTypes", o.app_id)
}

/// The attributes every type has, as every answer shows them.
pub fn reserved_json() -> Vec<Value> {
    vec![
        json!({"name": "id", "description": "simple identifier for this entity", "type": "id"}),
        json!({"name": "uuid", "description": "globally unique indentifier for this entity", "type": "uuid"}),
        json!({"name": "created", "description": "when this entity was created", "type": "dateTime"}),
        json!({"name": "lastUpdated", "description": "when this entity was last updated", "type": "dateTime"}),
    ]
}

/// The `user` type of the seed's example (e-mail provider, ad server, recommendation engine).
pub fn user_attr_defs() -> Value {
    json!([
        {"name": "email", "type": "string", "length": 256, "constraints": ["unique", "required"]},
        {"name": "givenName", "type": "string", "length": 100},
        {"name": "familyName", "type": "string", "length": 100},
        {"name": "birthday", "type": "date"},
        {"name": "gender", "type": "string", "length": 20},
        {"name": "optIns", "type": "object", "attr_defs": [
            {"name": "newsletter", "type": "boolean"},
            {"name": "partnerOffers", "type": "boolean"}
        ]},
        {"name": "primaryAddress", "type": "object", "attr_defs": [
            {"name": "city", "type": "string"},
            {"name": "zip", "type": "string"}
        ]},
        {"name": "interests", "type": "plural", "attr_defs": [
            {"name": "name", "type": "string"},
            {"name": "weight", "type": "integer"}
        ]},
        {"name": "password", "type": "password", "description": "hashed by the backend"}
    ])
}

/// Reserved attributes followed by `defs`.
pub fn shown(defs: &Value) -> Value {
    let mut all = reserved_json();
    all.extend(defs.as_array().unwrap().iter().cloned());
    Value::Array(all)
}

pub fn type_body(app_id: &str, name: &str, defs: &Value) -> Value {
    json!({"_self": format!("/config/{app_id}/entityTypes/{name}"), "name": name, "attr_defs": shown(defs)})
}

pub async fn create_type(app: &TestApp, owner: &Owner, name: &str, defs: Value) {
    let res = app
        .by(owner)
        .post(
            &types_path(owner),
            &json!({"name": name, "attr_defs": defs}),
        )
        .await;
    let (status, body) = res.pair();
    assert_eq!(status, 201, "{body}");
}

pub async fn create_user_type(app: &TestApp, owner: &Owner) {
    create_type(app, owner, "user", user_attr_defs()).await;
}

async fn type_count(app: &TestApp, app_id: &str) -> i64 {
    app.scalar(
        "SELECT count(*) FROM entity_types WHERE app_id = $1",
        &[app_id],
    )
    .await
}

async fn post_type(app: &TestApp, owner: &Owner, body: Value) -> (u16, Value) {
    app.by(owner).post(&types_path(owner), &body).await.pair()
}

#[tokio::test]
async fn create_returns_201_with_location_and_the_reserved_attributes_first() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let res = app
        .by(&owner)
        .post(
            &types_path(&owner),
            &json!({"name": "user", "attr_defs": user_attr_defs()}),
        )
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(
        res.headers["location"],
        format!("/config/{}/entityTypes/user", owner.app_id).as_str()
    );
    let body: Value = res.body;
    assert_eq!(body, type_body(&owner.app_id, "user", &user_attr_defs()));
    // The reserved attributes are shown, never stored.
    let stored: Value = app
        .scalar(
            "SELECT attr_defs FROM entity_types WHERE app_id = $1",
            &[&owner.app_id],
        )
        .await;
    assert_eq!(stored, user_attr_defs());
    // Audited with what was created.
    let rows = app.audit_rows(&owner.app_id).await;
    let event = rows.last().unwrap();
    assert_eq!(event["action"], "entity_type.create");
    assert_eq!(event["actor"], owner.client_id.as_str());
    assert_eq!(
        event["changes"],
        json!({"entityType": "user", "attr_defs": {"from": null, "to": user_attr_defs()}})
    );
}

#[tokio::test]
async fn an_empty_type_has_the_reserved_attributes() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (status, body) = post_type(&app, &owner, json!({"name": "group", "attr_defs": []})).await;
    assert_eq!(
        (status, body),
        (201, type_body(&owner.app_id, "group", &json!([])))
    );
}

#[tokio::test]
async fn bad_creations_are_refused_with_a_clear_message_and_change_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let cases = [
        (json!({"attr_defs": []}), "Missing data for required field."),
        (json!({"name": "user"}), "Missing data for required field."),
        (json!({"name": 5, "attr_defs": []}), "Not a valid string."),
        (json!({"name": null, "attr_defs": []}), "Not a valid string."),
        (json!({"name": "user-x", "attr_defs": []}), "Not a valid entity type name."),
        (json!({"name": "", "attr_defs": []}), "Not a valid entity type name."),
        (
            json!({"name": "user", "attr_defs": {"email": "string"}}),
            "Not a valid attribute definition: attr_defs must be a list of attribute definitions",
        ),
        (
            json!({"name": "user", "attr_defs": [{"name": "email", "type": "text"}]}),
            "Not a valid attribute definition: email: \"text\" is not a type (string, boolean, integer, decimal, date, dateTime, time, json, password, uuid, id, object, plural)",
        ),
        (
            json!({"name": "user", "attr_defs": [{"name": "a", "type": "object", "attr_defs": [{"name": "b", "type": "string", "length": 0}]}]}),
            "Not a valid attribute definition: a.b: length must be a positive integer",
        ),
        (
            json!({"name": "user", "attr_defs": [{"name": "p", "type": "plural"}]}),
            "Not a valid attribute definition: p: plural attributes need attr_defs",
        ),
        (
            json!({"name": "user", "attr_defs": [{"name": "e", "type": "string", "constraints": ["uniq"]}]}),
            "Not a valid attribute definition: e: \"uniq\" is not a constraint (unique, locally-unique, required, alphabetic, alphanumeric, unicode-letters, unicode-printable, email-address)",
        ),
        (
            json!({"name": "user", "attr_defs": [{"name": "lastUpdated", "type": "date"}]}),
            "Attribute lastUpdated is reserved.",
        ),
        (
            json!({"name": "user", "attr_defs": [{"name": "email", "type": "string"}, {"name": "email", "type": "string"}]}),
            "Attribute email already exists.",
        ),
    ];
    for (body, message) in cases {
        let (status, got) = post_type(&app, &owner, body.clone()).await;
        assert_eq!((status, got), (400, errors(message)), "{body}");
    }
    let res = app
        .as_owner(&owner, Method::POST, &types_path(&owner))
        .header("Content-Type", "application/json")
        .body("{not json")
        .fetch()
        .await;
    assert_eq!(res.pair(), (400, errors("Invalid JSON body.")));
    assert_eq!(type_count(&app, &owner.app_id).await, 0);
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.create").await,
        0
    );
}

#[tokio::test]
async fn a_taken_name_is_a_conflict() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let (status, body) = post_type(&app, &owner, json!({"name": "user", "attr_defs": []})).await;
    assert_eq!(
        (status, body),
        (409, errors("Entity type user already exists."))
    );
    // Names are case sensitive: `User` is another type.
    let (status, _) = post_type(&app, &owner, json!({"name": "User", "attr_defs": []})).await;
    assert_eq!(status, 201);
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.create").await,
        2
    );
}

#[tokio::test]
async fn list_and_get() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    app.by(&owner)
        .get(&types_path(&owner))
        .await
        .is(200, json!([]));
    create_user_type(&app, &owner).await;
    create_type(
        &app,
        &owner,
        "device",
        json!([{"name": "serial", "type": "string"}]),
    )
    .await;
    let list = app.by(&owner).get(&types_path(&owner)).await.status_is(200);
    assert_eq!(
        list,
        json!([
            type_body(
                &owner.app_id,
                "device",
                &json!([{"name": "serial", "type": "string"}])
            ),
            type_body(&owner.app_id, "user", &user_attr_defs()),
        ]),
        "sorted by name"
    );
    app.by(&owner)
        .get(&format!("{}/user", types_path(&owner)))
        .await
        .is(200, type_body(&owner.app_id, "user", &user_attr_defs()));
    for missing in ["nope", "USER", "a%20b"] {
        app.by(&owner)
            .get(&format!("{}/{missing}", types_path(&owner)))
            .await
            .case_is(
                404,
                errors("Entity type not found."),
                format_args!("{missing}"),
            );
    }
}

#[tokio::test]
async fn put_replaces_the_attributes_and_a_get_can_be_sent_back() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let path = format!("{}/user", types_path(&owner));
    let (_, got) = app.by(&owner).get(&path).await.pair();

    // The GET body, reserved attributes and `_self` included, goes back unchanged: no event.
    let (status, body) = app.by(&owner).put(&path, &got).await.pair();
    assert_eq!((status, &body), (200, &got));
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.update").await,
        0
    );

    let new_defs = json!([
        {"name": "email", "type": "string", "length": 320},
        {"name": "nickname", "type": "string", "case-sensitive": false}
    ]);
    app.by(&owner)
        .put(&path, &json!({"attr_defs": new_defs}))
        .await
        .is(200, type_body(&owner.app_id, "user", &new_defs));
    let rows = app.audit_rows(&owner.app_id).await;
    let event = rows.last().unwrap();
    assert_eq!(event["action"], "entity_type.update");
    assert_eq!(
        event["changes"],
        json!({"entityType": "user", "attr_defs": {"from": user_attr_defs(), "to": new_defs}})
    );
}

#[tokio::test]
async fn bad_puts_change_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let path = format!("{}/user", types_path(&owner));
    for (body, status, message) in [
        (
            json!({"name": "person", "attr_defs": []}),
            400,
            "Entity type name cannot be changed.",
        ),
        (
            json!({"name": 1, "attr_defs": []}),
            400,
            "Not a valid string.",
        ),
        (
            json!({"name": "user"}),
            400,
            "Missing data for required field.",
        ),
        (
            json!({"attr_defs": [{"name": "uuid", "type": "string"}]}),
            400,
            "Attribute uuid is reserved.",
        ),
        (
            json!({"attr_defs": [{"name": "x"}]}),
            400,
            "Not a valid attribute definition: x: type is required",
        ),
    ] {
        let got = app.by(&owner).put(&path, &body).await.pair();
        assert_eq!(got, (status, errors(message)), "{body}");
    }
    let got = app
        .by(&owner)
        .put(
            &format!("{}/nope", types_path(&owner)),
            &json!({"attr_defs": []}),
        )
        .await
        .pair();
    assert_eq!(
        got,
        (404, errors("Entity type not found.")),
        "PUT does not create"
    );
    let (_, body) = app.by(&owner).get(&path).await.pair();
    assert_eq!(body, type_body(&owner.app_id, "user", &user_attr_defs()));
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.update").await,
        0
    );
    assert_eq!(type_count(&app, &owner.app_id).await, 1);
}

#[tokio::test]
async fn delete_removes_the_type_and_is_audited() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let path = format!("{}/user", types_path(&owner));
    app.by(&owner).delete(&path).await.is(204, Value::Null);
    let got = app.by(&owner).get(&path).await.pair();
    assert_eq!(got, (404, errors("Entity type not found.")));
    let got = app.by(&owner).delete(&path).await.pair();
    assert_eq!(got, (404, errors("Entity type not found.")));
    let rows = app.audit_rows(&owner.app_id).await;
    let event = rows.last().unwrap();
    assert_eq!(event["action"], "entity_type.delete");
    assert_eq!(
        event["changes"],
        json!({"entityType": "user", "attr_defs": {"from": user_attr_defs(), "to": null}})
    );
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.delete").await,
        1
    );
}

#[tokio::test]
async fn only_owners_and_the_operator_manage_entity_types() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let list = types_path(&owner);
    let one = format!("{list}/user");
    for features in [
        json!(["direct_access"]),
        json!(["direct_read_access", "access_issuer"]),
        json!(["login_client"]),
        json!([]),
    ] {
        let Made { id, secret, .. } = app
            .create_client(
                &owner,
                json!({"name": format!("c{features}"), "features": features}),
            )
            .await;
        for (method, path, body) in [
            (Method::GET, list.clone(), None),
            (
                Method::POST,
                list.clone(),
                Some(json!({"name": "x", "attr_defs": []})),
            ),
            (Method::GET, one.clone(), None),
            (Method::PUT, one.clone(), Some(json!({"attr_defs": []}))),
            (Method::DELETE, one.clone(), None),
        ] {
            let mut req = app.as_client(&id, &secret, method.clone(), &path);
            if let Some(body) = body {
                req = req.json(&body);
            }
            let got = req.fetch().await.pair();
            assert_eq!(
                got,
                (403, errors("Forbidden")),
                "{features} {method} {path}"
            );
        }
    }
    let got = app.request(Method::GET, &list).fetch().await.pair();
    assert_eq!(got, (401, errors("Authentication required.")));
    // The operator manages any application's types.
    app.operator()
        .post(&list, &json!({"name": "device", "attr_defs": []}))
        .await
        .status_is(201);
    let rows = app.audit_rows(&owner.app_id).await;
    assert_eq!(rows.last().unwrap()["actor"], "operator");
    let got = app
        .operator()
        .get(&format!("/config/{}/entityTypes", "z".repeat(26)))
        .await
        .pair();
    assert_eq!(got, (404, errors("Application not found.")));
    // Nothing was changed by the refused calls.
    let (_, body) = app.by(&owner).get(&one).await.pair();
    assert_eq!(body, type_body(&owner.app_id, "user", &user_attr_defs()));
    assert_eq!(type_count(&app, &owner.app_id).await, 2);
}

#[tokio::test]
async fn tenants_do_not_see_each_others_types() {
    let (app, a) = spawn_app_with_owner("app a").await;
    let b = app.create_app("app b").await;
    create_user_type(&app, &b).await;
    // A's owner on B's paths: its credentials do not belong there.
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"attr_defs": []}))),
        (Method::DELETE, None),
    ] {
        let mut req = app.as_owner(&a, method.clone(), &format!("{}/user", types_path(&b)));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let got = req.fetch().await.pair();
        assert_eq!(got, (401, errors("Authentication required.")), "{method}");
    }
    // Through its own path, A has no `user` type, and may create its own.
    let got = app
        .by(&a)
        .get(&format!("{}/user", types_path(&a)))
        .await
        .pair();
    assert_eq!(got, (404, errors("Entity type not found.")));
    create_type(
        &app,
        &a,
        "user",
        json!([{"name": "only_in_a", "type": "string"}]),
    )
    .await;
    let (_, body) = app
        .by(&b)
        .get(&format!("{}/user", types_path(&b)))
        .await
        .pair();
    assert_eq!(body, type_body(&b.app_id, "user", &user_attr_defs()));
    let (_, list) = app.by(&a).get(&types_path(&a)).await.pair();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    for (method, path) in [
        (Method::PATCH, types_path(&owner)),
        (Method::DELETE, types_path(&owner)),
        (Method::POST, format!("{}/user", types_path(&owner))),
    ] {
        let got = app
            .as_owner(&owner, method.clone(), &path)
            .fetch()
            .await
            .pair();
        assert_eq!(got, (405, errors("Method not allowed.")), "{method} {path}");
    }
}

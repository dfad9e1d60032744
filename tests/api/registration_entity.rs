//! Registration API `entityType.*` (spec §4): shapes, every error code (100, 200, 222, 223,
//! 232, 233, 234, 402, 403), both credential styles, consistency with the Config API, audit.

use reqwest::Method;
use serde_json::{json, Value};

use crate::entity_types::{shown, type_body, types_path, user_attr_defs};
use crate::helpers::*;

/// POSTs a form as `(id, secret)` (HTTP Basic); checks HTTP 200 and that an error's
/// `request_id` is the `X-Request-Id` header, then removes it so whole bodies can be compared.
async fn reg(app: &TestApp, id: &str, secret: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let res = app
        .as_client(id, secret, Method::POST, path)
        .form(form)
        .send()
        .await
        .unwrap();
    read(res).await
}

async fn read(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200, "the Registration API always answers 200");
    let header_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut body: Value = res.json().await.unwrap();
    if body["stat"] == "error" {
        assert_eq!(body["request_id"], Value::String(header_id), "{body}");
        body.as_object_mut().unwrap().remove("request_id");
    }
    body
}

async fn as_owner(app: &TestApp, o: &Owner, path: &str, form: &[(&str, &str)]) -> Value {
    reg(app, &o.client_id, &o.secret, path, form).await
}

fn err(code: u16, error: &str, description: &str) -> Value {
    json!({"stat": "error", "code": code, "error": error, "error_description": description})
}

fn with_arg(code: u16, error: &str, description: &str, argument: &str) -> Value {
    let mut v = err(code, error, description);
    v["argument_name"] = json!(argument);
    v
}

fn missing(argument: &str) -> Value {
    with_arg(
        100,
        "missing_argument",
        &format!("missing arguments: {argument}"),
        argument,
    )
}

fn invalid(argument: &str, reason: &str) -> Value {
    with_arg(
        200,
        "invalid_argument",
        &format!("{argument} was not valid for the following reason: {reason}"),
        argument,
    )
}

fn unknown_type(name: &str) -> Value {
    err(
        222,
        "unknown_entity_type",
        &format!("entity type does not exist: {name}"),
    )
}

fn schema(name: &str, defs: &Value) -> Value {
    json!({"stat": "ok", "schema": {"name": name, "attr_defs": shown(defs)}})
}

const NO_AUTHORIZATION: &str = "the provided client does not have authorization for this action";

fn set<'a>(client: &'a str, access: &'a str, attributes: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("type_name", "user"),
        ("for_client_id", client),
        ("access_type", access),
        ("attributes", attributes),
    ]
}

async fn create_user(app: &TestApp, o: &Owner) {
    let defs = user_attr_defs().to_string();
    let body = as_owner(
        app,
        o,
        "/entityType.create",
        &[("type_name", "user"), ("attr_defs", &defs)],
    )
    .await;
    assert_eq!(body, schema("user", &user_attr_defs()));
}

#[tokio::test]
async fn create_answers_the_vendor_shape_and_the_config_api_sees_the_type() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    // The vendor's documented example, copied as is.
    let defs = r#"[{"name":"name","type":"string","case-sensitive":false},{"name":"description","type":"string","length":1000,"case-sensitive":false}]"#;
    let res = app
        .as_owner(&owner, Method::POST, "/entityType.create")
        .form(&[("type_name", "user_test"), ("attr_defs", defs)])
        .fetch()
        .await;
    // Keys come out sorted, as in the vendor's example (`schema` before `stat`, `attr_defs`
    // before `name`, `description`/`name`/`type` in each attribute).
    let text = res.text;
    assert!(
        text.starts_with(r#"{"schema":{"attr_defs":[{"description":"simple identifier for this entity","name":"id","type":"id"},"#),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let defs: Value = serde_json::from_str(defs).unwrap();
    assert_eq!(body, schema("user_test", &defs));
    app.by(&owner)
        .get(&format!("{}/user_test", types_path(&owner)))
        .await
        .is(200, type_body(&owner.app_id, "user_test", &defs));
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.create").await,
        1
    );
}

#[tokio::test]
async fn read_and_list() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    assert_eq!(
        as_owner(&app, &owner, "/entityType.list", &[]).await,
        json!({"stat": "ok", "results": []})
    );
    create_user(&app, &owner).await;
    let body = as_owner(
        &app,
        &owner,
        "/entityType.create",
        &[("type_name", "device"), ("attr_defs", "[]")],
    )
    .await;
    assert_eq!(body, schema("device", &json!([])));
    assert_eq!(
        as_owner(&app, &owner, "/entityType.list", &[]).await,
        json!({"stat": "ok", "results": ["device", "user"]})
    );
    assert_eq!(
        as_owner(&app, &owner, "/entityType", &[("type_name", "user")]).await,
        schema("user", &user_attr_defs())
    );
    // GET with a query string works too, and so do parameter credentials.
    let res = app
        .request(
            Method::GET,
            &format!(
                "/entityType?type_name=user&client_id={}&client_secret={}",
                owner.client_id, owner.secret
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await, schema("user", &user_attr_defs()));
    assert_eq!(
        as_owner(&app, &owner, "/entityType", &[("type_name", "nope")]).await,
        unknown_type("nope")
    );
    assert_eq!(
        as_owner(&app, &owner, "/entityType", &[]).await,
        missing("type_name")
    );
}

#[tokio::test]
async fn create_errors_use_the_vendor_codes_and_change_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    let cases: Vec<(Vec<(&str, &str)>, Value)> = vec![
        (vec![("attr_defs", "[]")], missing("type_name")),
        (vec![("type_name", "x")], missing("attr_defs")),
        (
            vec![("type_name", "x"), ("attr_defs", "[{")],
            invalid("attr_defs", "not valid JSON"),
        ),
        (
            vec![("type_name", "x y"), ("attr_defs", "[]")],
            invalid("type_name", "Not a valid entity type name."),
        ),
        (
            vec![("type_name", "x"), ("attr_defs", r#"{"name":"a"}"#)],
            invalid(
                "attr_defs",
                "attr_defs must be a list of attribute definitions",
            ),
        ),
        (
            vec![
                ("type_name", "x"),
                ("attr_defs", r#"[{"name":"a","type":"object"}]"#),
            ],
            invalid("attr_defs", "a: object attributes need attr_defs"),
        ),
        (
            vec![
                ("type_name", "x"),
                ("attr_defs", r#"[{"name":"created","type":"string"}]"#),
            ],
            err(234, "reserved_attribute", "Attribute created is reserved."),
        ),
        (
            vec![
                ("type_name", "x"),
                (
                    "attr_defs",
                    r#"[{"name":"a","type":"string"},{"name":"a","type":"date"}]"#,
                ),
            ],
            err(233, "attribute_exists", "Attribute a already exists."),
        ),
        (
            vec![("type_name", "user"), ("attr_defs", "[]")],
            err(
                232,
                "entity_type_exists",
                "Entity type user already exists.",
            ),
        ),
        (
            vec![("type_name", "x"), ("type_name", "y"), ("attr_defs", "[]")],
            with_arg(
                201,
                "duplicate_argument",
                "type_name was given more than once",
                "type_name",
            ),
        ),
    ];
    for (form, expected) in cases {
        assert_eq!(
            as_owner(&app, &owner, "/entityType.create", &form).await,
            expected,
            "{form:?}"
        );
    }
    assert_eq!(
        as_owner(&app, &owner, "/entityType.list", &[]).await,
        json!({"stat": "ok", "results": ["user"]})
    );
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.create").await,
        1
    );
}

#[tokio::test]
async fn add_attribute() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    let def = r#"{"name":"fullName","type":"string","length":50}"#;
    let body = as_owner(
        &app,
        &owner,
        "/entityType.addAttribute",
        &[("type_name", "user"), ("attr_def", def)],
    )
    .await;
    let mut defs = user_attr_defs();
    defs.as_array_mut()
        .unwrap()
        .push(serde_json::from_str(def).unwrap());
    assert_eq!(body, schema("user", &defs));
    let rows = app.audit_rows(&owner.app_id).await;
    let event = rows.last().unwrap();
    assert_eq!(event["action"], "entity_type.attribute_add");
    assert_eq!(event["changes"]["attribute"], "fullName");
    assert_eq!(
        event["changes"]["attr_def"],
        serde_json::from_str::<Value>(def).unwrap()
    );
    assert_eq!(event["changes"]["attr_defs"]["to"], defs);

    for (form, expected) in [
        (vec![("type_name", "user"), ("attr_def", def)], err(233, "attribute_exists", "Attribute fullName already exists.")),
        (
            vec![("type_name", "user"), ("attr_def", r#"{"name":"uuid","type":"uuid"}"#)],
            err(234, "reserved_attribute", "Attribute uuid is reserved."),
        ),
        (
            vec![("type_name", "user"), ("attr_def", r#"{"name":"x","type":"blob"}"#)],
            invalid("attr_def", "x: \"blob\" is not a type (string, boolean, integer, decimal, date, dateTime, time, json, password, uuid, id, object, plural)"),
        ),
        (vec![("type_name", "user"), ("attr_def", "nope")], invalid("attr_def", "not valid JSON")),
        (vec![("type_name", "user")], missing("attr_def")),
        (vec![("type_name", "device"), ("attr_def", def)], unknown_type("device")),
    ] {
        assert_eq!(as_owner(&app, &owner, "/entityType.addAttribute", &form).await, expected, "{form:?}");
    }
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.attribute_add")
            .await,
        1
    );
}

#[tokio::test]
async fn remove_attribute_by_any_path_spelling() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    let body = as_owner(
        &app,
        &owner,
        "/entityType.removeAttribute",
        &[
            ("type_name", "user"),
            ("attribute_name", "/primaryAddress/zip"),
        ],
    )
    .await;
    let mut defs = user_attr_defs();
    for d in defs.as_array_mut().unwrap() {
        if d["name"] == "primaryAddress" {
            d["attr_defs"] = json!([{"name": "city", "type": "string"}]);
        }
    }
    assert_eq!(body, schema("user", &defs));
    let body = as_owner(
        &app,
        &owner,
        "/entityType.removeAttribute",
        &[("type_name", "user"), ("attribute_name", "gender")],
    )
    .await;
    defs.as_array_mut()
        .unwrap()
        .retain(|d| d["name"] != "gender");
    assert_eq!(body, schema("user", &defs));
    let rows = app.audit_rows(&owner.app_id).await;
    let event = rows.last().unwrap();
    assert_eq!(event["action"], "entity_type.attribute_remove");
    assert_eq!(event["changes"]["attribute"], "gender");
    assert_eq!(
        event["changes"]["attr_def"],
        json!({"name": "gender", "type": "string", "length": 20})
    );

    for (form, expected) in [
        (
            vec![("type_name", "user"), ("attribute_name", "gender")],
            err(223, "unknown_attribute", "attribute does not exist: gender"),
        ),
        (
            vec![
                ("type_name", "user"),
                ("attribute_name", "primaryAddress.zip"),
            ],
            err(
                223,
                "unknown_attribute",
                "attribute does not exist: primaryAddress.zip",
            ),
        ),
        (
            vec![("type_name", "user"), ("attribute_name", "a..b")],
            err(223, "unknown_attribute", "attribute does not exist: a..b"),
        ),
        (
            vec![("type_name", "user"), ("attribute_name", "lastUpdated")],
            err(
                234,
                "reserved_attribute",
                "Attribute lastUpdated is reserved.",
            ),
        ),
        (
            vec![("type_name", "user"), ("attribute_name", "/id")],
            err(234, "reserved_attribute", "Attribute id is reserved."),
        ),
        (vec![("type_name", "user")], missing("attribute_name")),
        (
            vec![("type_name", "device"), ("attribute_name", "x")],
            unknown_type("device"),
        ),
    ] {
        assert_eq!(
            as_owner(&app, &owner, "/entityType.removeAttribute", &form).await,
            expected,
            "{form:?}"
        );
    }
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.attribute_remove")
            .await,
        2
    );
}

#[tokio::test]
async fn set_and_get_access_schemas() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    let (mailer, mailer_secret) = app
        .make_client(&owner, "mailer", &["direct_read_access"])
        .await
        .credentials();
    // No schema yet: the whole type.
    let body = reg(
        &app,
        &mailer,
        &mailer_secret,
        "/entityType.getAccessSchema",
        &[("type_name", "user"), ("access_type", "read")],
    )
    .await;
    assert_eq!(body, schema("user", &user_attr_defs()));

    let body = as_owner(
        &app,
        &owner,
        "/entityType.setAccessSchema",
        &[
            ("type_name", "user"),
            ("for_client_id", &mailer),
            ("access_type", "read"),
            ("attributes", r#"["email","/primaryAddress/city","optIns"]"#),
        ],
    )
    .await;
    let restricted = json!([
        {"name": "email", "type": "string", "length": 256, "constraints": ["unique", "required"]},
        {"name": "optIns", "type": "object", "attr_defs": [
            {"name": "newsletter", "type": "boolean"}, {"name": "partnerOffers", "type": "boolean"}
        ]},
        {"name": "primaryAddress", "type": "object", "attr_defs": [{"name": "city", "type": "string"}]}
    ]);
    let mut expected = schema("user", &restricted);
    expected["notice"] = json!("Added required attributes: id, uuid, created, lastUpdated");
    assert_eq!(body, expected);
    // The client reads its own schema (for_client_id defaults to the caller); the owner reads it.
    let body = reg(
        &app,
        &mailer,
        &mailer_secret,
        "/entityType.getAccessSchema",
        &[("type_name", "user"), ("access_type", "read")],
    )
    .await;
    assert_eq!(body, schema("user", &restricted));
    let body = as_owner(
        &app,
        &owner,
        "/entityType.getAccessSchema",
        &[
            ("type_name", "user"),
            ("for_client_id", &mailer),
            ("access_type", "read"),
        ],
    )
    .await;
    assert_eq!(body, schema("user", &restricted));
    // The write schema is separate.
    let body = reg(
        &app,
        &mailer,
        &mailer_secret,
        "/entityType.getAccessSchema",
        &[("type_name", "user"), ("access_type", "write")],
    )
    .await;
    assert_eq!(body, schema("user", &user_attr_defs()));
    // The Config API shows the same list.
    app.config(&owner).get(&format!("/clients/{mailer}/accessSchemas/user/read")).await.is(
            200,
            json!({"attributes": ["id", "uuid", "created", "lastUpdated", "email", "primaryAddress.city", "optIns"]})
        );
    // Listing reserved attributes explicitly is fine (the vendor errors; we do not): no notice
    // for the ones given.
    let body = as_owner(
        &app,
        &owner,
        "/entityType.setAccessSchema",
        &[
            ("type_name", "user"),
            ("for_client_id", &mailer),
            ("access_type", "write"),
            ("attributes", r#"["id","uuid","created","lastUpdated"]"#),
        ],
    )
    .await;
    assert_eq!(body, schema("user", &json!([])));
    // Without for_client_id, the caller's own schema is set.
    let body = as_owner(
        &app,
        &owner,
        "/entityType.setAccessSchema",
        &[
            ("type_name", "user"),
            ("access_type", "write"),
            ("attributes", r#"["uuid","email"]"#),
        ],
    )
    .await;
    let mut expected = schema(
        "user",
        &json!([{"name": "email", "type": "string", "length": 256, "constraints": ["unique", "required"]}]),
    );
    expected["notice"] = json!("Added required attributes: id, created, lastUpdated");
    assert_eq!(body, expected);
    let rows = app.audit_rows(&owner.app_id).await;
    let event = rows.last().unwrap();
    assert_eq!(event["action"], "access_schema.set");
    assert_eq!(event["target_client_id"], owner.client_id.as_str());
    assert_eq!(app.audit_count(&owner.app_id, "access_schema.set").await, 3);
}

#[tokio::test]
async fn access_schema_errors() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    let mailer = app
        .add_client(&owner, "mailer", &["direct_read_access"])
        .await;
    let unknown = "z".repeat(32);
    let (mailer_ref, unknown_ref) = (mailer.as_str(), unknown.as_str());
    let cases: Vec<(Vec<(&str, &str)>, Value)> = vec![
        (
            set(mailer_ref, "read", r#"["email","shoeSize"]"#),
            err(
                223,
                "unknown_attribute",
                "attribute does not exist: shoeSize",
            ),
        ),
        (
            set(mailer_ref, "read", r#"["/primaryAddress/country"]"#),
            err(
                223,
                "unknown_attribute",
                "attribute does not exist: /primaryAddress/country",
            ),
        ),
        (
            set(mailer_ref, "admin", r#"["email"]"#),
            invalid("access_type", "Not a valid access type."),
        ),
        (
            set(mailer_ref, "read", r#""email""#),
            invalid("attributes", "Not a valid list."),
        ),
        (
            set(mailer_ref, "read", "[1]"),
            invalid("attributes", "Not a valid string."),
        ),
        (
            set(mailer_ref, "read", "[email]"),
            invalid("attributes", "not valid JSON"),
        ),
        (
            set(unknown_ref, "read", r#"["email"]"#),
            invalid("for_client_id", "for_client_id is not a valid id"),
        ),
        (
            vec![
                ("type_name", "device"),
                ("for_client_id", mailer_ref),
                ("access_type", "read"),
                ("attributes", "[]"),
            ],
            unknown_type("device"),
        ),
        (
            vec![
                ("type_name", "user"),
                ("for_client_id", mailer_ref),
                ("access_type", "read"),
            ],
            missing("attributes"),
        ),
        (
            vec![
                ("type_name", "user"),
                ("for_client_id", mailer_ref),
                ("attributes", "[]"),
            ],
            missing("access_type"),
        ),
        (
            vec![
                ("for_client_id", mailer_ref),
                ("access_type", "read"),
                ("attributes", "[]"),
            ],
            missing("type_name"),
        ),
    ];
    for (form, expected) in cases {
        assert_eq!(
            as_owner(&app, &owner, "/entityType.setAccessSchema", &form).await,
            expected,
            "{form:?}"
        );
    }
    for (form, expected) in [
        (
            vec![
                ("type_name", "user"),
                ("for_client_id", mailer_ref),
                ("access_type", "delete"),
            ],
            invalid("access_type", "Not a valid access type."),
        ),
        (
            vec![
                ("type_name", "user"),
                ("for_client_id", unknown_ref),
                ("access_type", "read"),
            ],
            invalid("for_client_id", "for_client_id is not a valid id"),
        ),
        (
            vec![
                ("type_name", "device"),
                ("for_client_id", mailer_ref),
                ("access_type", "read"),
            ],
            unknown_type("device"),
        ),
        (
            vec![("type_name", "user"), ("for_client_id", mailer_ref)],
            missing("access_type"),
        ),
    ] {
        assert_eq!(
            as_owner(&app, &owner, "/entityType.getAccessSchema", &form).await,
            expected,
            "{form:?}"
        );
    }
    let rows: i64 = app.scalar("SELECT count(*) FROM access_schemas", &[]).await;
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn schemas_in_use_block_removal_and_deletion() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    let mailer = app
        .add_client(&owner, "mailer", &["direct_read_access"])
        .await;
    let body = as_owner(
        &app,
        &owner,
        "/entityType.setAccessSchema",
        &[
            ("type_name", "user"),
            ("for_client_id", &mailer),
            ("access_type", "read"),
            ("attributes", r#"["primaryAddress.city"]"#),
        ],
    )
    .await;
    assert_eq!(body["stat"], "ok", "{body}");
    let body = as_owner(
        &app,
        &owner,
        "/entityType.removeAttribute",
        &[("type_name", "user"), ("attribute_name", "/primaryAddress")],
    )
    .await;
    assert_eq!(
        body,
        invalid(
            "attribute_name",
            &format!(
                "Attribute primaryAddress is used by the access schemas of clients: {mailer}."
            )
        )
    );
    let body = as_owner(&app, &owner, "/entityType.delete", &[("type_name", "user")]).await;
    assert_eq!(
        body,
        invalid(
            "type_name",
            &format!("Entity type user is used by the access schemas of clients: {mailer}.")
        )
    );
    assert_eq!(
        as_owner(&app, &owner, "/entityType", &[("type_name", "user")]).await,
        schema("user", &user_attr_defs())
    );
    // Removing an attribute no schema names works.
    let body = as_owner(
        &app,
        &owner,
        "/entityType.removeAttribute",
        &[
            ("type_name", "user"),
            ("attribute_name", "primaryAddress.zip"),
        ],
    )
    .await;
    assert_eq!(body["stat"], "ok");
}

#[tokio::test]
async fn delete_type() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    assert_eq!(
        as_owner(&app, &owner, "/entityType.delete", &[("type_name", "user")]).await,
        json!({"stat": "ok"})
    );
    assert_eq!(
        as_owner(&app, &owner, "/entityType.delete", &[("type_name", "user")]).await,
        unknown_type("user")
    );
    assert_eq!(
        as_owner(&app, &owner, "/entityType.delete", &[]).await,
        missing("type_name")
    );
    assert_eq!(
        as_owner(&app, &owner, "/entityType.list", &[]).await,
        json!({"stat": "ok", "results": []})
    );
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.delete").await,
        1
    );
}

#[tokio::test]
async fn permissions_credentials_and_the_allow_list() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user(&app, &owner).await;
    let defs = r#"{"name":"x","type":"string"}"#;
    let owner_only: [(&str, Vec<(&str, &str)>); 7] = [
        ("/entityType", vec![("type_name", "user")]),
        ("/entityType.list", vec![]),
        (
            "/entityType.create",
            vec![("type_name", "t"), ("attr_defs", "[]")],
        ),
        ("/entityType.delete", vec![("type_name", "user")]),
        (
            "/entityType.addAttribute",
            vec![("type_name", "user"), ("attr_def", defs)],
        ),
        (
            "/entityType.removeAttribute",
            vec![("type_name", "user"), ("attribute_name", "email")],
        ),
        (
            "/entityType.setAccessSchema",
            vec![
                ("type_name", "user"),
                ("access_type", "read"),
                ("attributes", "[]"),
            ],
        ),
    ];
    let forbidden = err(403, "client_permission_error", NO_AUTHORIZATION);
    for features in [
        json!(["direct_access"]),
        json!(["direct_read_access"]),
        json!(["login_client"]),
        json!(["access_issuer"]),
        json!([]),
    ] {
        let Made { id, secret, .. } = app
            .create_client(
                &owner,
                json!({"name": format!("c{features}"), "features": features}),
            )
            .await;
        for (path, form) in &owner_only {
            assert_eq!(
                reg(&app, &id, &secret, path, form).await,
                forbidden,
                "{features} {path}"
            );
        }
        // Any client with a feature may read access schemas; one without features may not.
        let body = reg(
            &app,
            &id,
            &secret,
            "/entityType.getAccessSchema",
            &[("type_name", "user"), ("access_type", "read")],
        )
        .await;
        if features == json!([]) {
            assert_eq!(body, forbidden);
        } else {
            assert_eq!(body, schema("user", &user_attr_defs()), "{features}");
        }
    }
    // Wrong and missing credentials.
    let bad = err(
        402,
        "invalid_client_credentials",
        "client_id and client_secret are missing or not valid",
    );
    assert_eq!(
        reg(&app, &owner.client_id, "wrong", "/entityType.list", &[]).await,
        bad
    );
    let res = app
        .request(Method::POST, "/entityType.list")
        .form(&[("a", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await, bad);
    // An owner outside its allow list (the tests call from 127.0.0.1).
    let (fenced, fenced_secret) = app
        .fenced_client(&owner, "fenced owner", &["owner"], &["10.0.0.0/8"])
        .await
        .credentials();
    assert_eq!(
        reg(&app, &fenced, &fenced_secret, "/entityType.list", &[]).await,
        forbidden
    );
    // The operator names the application.
    let res = app
        .as_operator(Method::POST, "/entityType.list")
        .form(&[("application_id", owner.app_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await, json!({"stat": "ok", "results": ["user"]}));
    // Nothing was changed by the refused calls.
    assert_eq!(
        as_owner(&app, &owner, "/entityType", &[("type_name", "user")]).await,
        schema("user", &user_attr_defs())
    );
    assert_eq!(
        app.audit_count(&owner.app_id, "entity_type.create").await,
        1
    );
    let rows: i64 = app.scalar("SELECT count(*) FROM access_schemas", &[]).await;
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let (app, a) = spawn_app_with_owner("app a").await;
    let b = app.create_app("app b").await;
    create_user(&app, &b).await;
    let b_client = app.add_client(&b, "b's", &["direct_access"]).await;
    // A's owner works in A only: B's type and client are unknown to it.
    assert_eq!(
        as_owner(&app, &a, "/entityType", &[("type_name", "user")]).await,
        unknown_type("user")
    );
    assert_eq!(
        as_owner(&app, &a, "/entityType.list", &[]).await,
        json!({"stat": "ok", "results": []})
    );
    create_user(&app, &a).await;
    let body = as_owner(
        &app,
        &a,
        "/entityType.setAccessSchema",
        &[
            ("type_name", "user"),
            ("for_client_id", &b_client),
            ("access_type", "read"),
            ("attributes", "[]"),
        ],
    )
    .await;
    assert_eq!(
        body,
        invalid("for_client_id", "for_client_id is not a valid id")
    );
    // Naming another application is refused.
    let body = as_owner(
        &app,
        &a,
        "/entityType.list",
        &[("application_id", &b.app_id)],
    )
    .await;
    assert_eq!(
        body,
        err(
            221,
            "unknown_application",
            "application_id does not name an application of the caller"
        )
    );
    assert_eq!(
        as_owner(&app, &a, "/entityType.delete", &[("type_name", "user")]).await,
        json!({"stat": "ok"})
    );
    assert_eq!(
        as_owner(&app, &b, "/entityType", &[("type_name", "user")]).await,
        schema("user", &user_attr_defs())
    );
}

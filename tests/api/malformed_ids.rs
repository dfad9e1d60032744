//! An id that does not have the shape of one (`domain::ids`: 26 or 32 characters of a-z0-9)
//! names nothing, so it answers exactly as a well-formed unknown id, at the same point of the
//! order of checks (credentials, body, `owner`, then the target).

use serde_json::json;

use crate::helpers::*;

const UNKNOWN_APP: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaa";
const UNKNOWN_CLIENT: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// Too short, too long, upper case, a character outside the alphabet.
const MALFORMED: [&str; 4] = [
    "short",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "AAAAAAAAAAAAAAAAAAAAAAAAAA",
    "aaaaaaaaaaaaaaaaaaaaaaaaa-",
];

#[tokio::test]
async fn a_malformed_app_id_answers_as_an_unknown_one() {
    let app = spawn_app().await;
    for junk in MALFORMED {
        for path in [
            "/apps/{}",
            "/config/{}/clients",
            "/config/{}/settings",
            "/config/{}/entityTypes",
            "/config/{}/audit",
        ] {
            let unknown = app.operator().get(&path.replace("{}", UNKNOWN_APP)).await;
            let malformed = app.operator().get(&path.replace("{}", junk)).await;
            assert_eq!(malformed.pair(), unknown.pair(), "{path} {junk}");
        }
        // The body is checked before the target: a bad body is the same 400 for both.
        let path = |a: &str| format!("/config/{a}/clients");
        let unknown = app.operator().post(&path(UNKNOWN_APP), &json!({})).await;
        let malformed = app.operator().post(&path(junk), &json!({})).await;
        assert_eq!(unknown.status, 400, "{}", unknown.text);
        assert_eq!(malformed.pair(), unknown.pair(), "{junk}");
    }
    app.operator()
        .get("/config/short/clients")
        .await
        .is(404, errors("Application not found."));
}

#[tokio::test]
async fn a_malformed_client_id_answers_as_an_unknown_one() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let plain = app.make_client(&owner, "plain", &["direct_access"]).await;
    for junk in MALFORMED.into_iter().chain([UNKNOWN_APP]) {
        for rest in ["clients/{}", "clients/{}/settings", "clients/{}/jwks"] {
            let unknown = app
                .config(&owner)
                .get(&rest.replace("{}", UNKNOWN_CLIENT))
                .await;
            let malformed = app.config(&owner).get(&rest.replace("{}", junk)).await;
            assert_eq!(malformed.pair(), unknown.pair(), "{rest} {junk}");
        }
        let unknown = app.config(&owner).delete_client(UNKNOWN_CLIENT).await;
        let malformed = app.config(&owner).delete_client(junk).await;
        assert_eq!(malformed.pair(), unknown.pair(), "{junk}");
        // `owner` is checked before the target: a client without it is refused alike.
        let as_plain = app.config_as(&plain.id, &plain.secret, &owner.app_id);
        let unknown = as_plain.get_client(UNKNOWN_CLIENT).await;
        let malformed = as_plain.get_client(junk).await;
        assert_eq!(unknown.status, 403, "{}", unknown.text);
        assert_eq!(malformed.pair(), unknown.pair(), "{junk}");
        // The Registration API: `for_client_id` and `client_id_for_deletion`.
        for (call, arg) in [
            ("/clients/set_description", "for_client_id"),
            ("/clients/delete", "client_id_for_deletion"),
        ] {
            let form = |id| [(arg, id), ("description", "x")];
            let unknown = app.rpc(&owner, call, &form(UNKNOWN_CLIENT)).await;
            let malformed = app.rpc(&owner, call, &form(junk)).await;
            assert_eq!(unknown["stat"], "error", "{unknown}");
            assert_eq!(malformed, unknown, "{call} {junk}");
        }
    }
    app.config(&owner)
        .get_client("short")
        .await
        .is(404, errors("Client ID not found."));
}

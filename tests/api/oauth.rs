//! OAuth 2.0 client credentials (docs/oauth.md): metadata, JWKS, the token endpoint and each of
//! its errors, introspection, revocation, private_key_jwt, key rotation under load.

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use latchkey::auth::jose;
use latchkey::domain::oauth::SigningAlg;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// LATCHKEY_PUBLIC_URL of the test servers (tests/api/helpers.rs): the issuers derive from it.
const PUBLIC_URL: &str = "https://audit.example.test";

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl TestApp {
    pub(crate) fn oauth(&self, app_id: &str, rest: &str) -> String {
        format!("/oauth/{app_id}/{rest}")
    }

    /// A token request with Basic credentials and these form parameters.
    async fn token_basic(
        &self,
        app_id: &str,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let res = self
            .as_client(id, secret, Method::POST, &self.oauth(app_id, "token"))
            .form(form)
            .fetch()
            .await;
        let headers = res.headers.clone();
        let (status, body) = res.pair();
        (status, body, headers)
    }

    async fn token_form(&self, app_id: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.request(Method::POST, &self.oauth(app_id, "token"))
            .form(form)
            .fetch()
            .await
            .pair()
    }

    pub(crate) async fn access_token(&self, app_id: &str, id: &str, secret: &str) -> String {
        let (status, body, _) = self
            .token_basic(app_id, id, secret, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn introspect(
        &self,
        app_id: &str,
        id: &str,
        secret: &str,
        token: &str,
    ) -> Value {
        let body = self
            .as_client(id, secret, Method::POST, &self.oauth(app_id, "introspect"))
            .form(&[("token", token)])
            .fetch()
            .await
            .status_is(200);
        body
    }

    pub(crate) async fn jwks(&self, app_id: &str) -> JwkSet {
        let body = self
            .request(Method::GET, &self.oauth(app_id, "jwks"))
            .fetch()
            .await
            .status_is(200);
        serde_json::from_value(body).unwrap()
    }
}

fn oauth_error(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

/// Verifies a token as an offline resource server would.
pub(crate) fn verify(token: &str, jwks: &JwkSet, issuer: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn metadata_and_jwks() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let issuer = format!("{PUBLIC_URL}/oauth/{}", owner.app_id);
    for path in [
        format!(
            "/.well-known/oauth-authorization-server/oauth/{}",
            owner.app_id
        ),
        format!(
            "/oauth/{}/.well-known/oauth-authorization-server",
            owner.app_id
        ),
    ] {
        let body = app.request(Method::GET, &path).fetch().await.status_is(200);
        assert_eq!(body["issuer"], issuer);
        assert_eq!(body["token_endpoint"], format!("{issuer}/token"));
        assert_eq!(body["jwks_uri"], format!("{issuer}/jwks"));
        assert_eq!(
            body["introspection_endpoint"],
            format!("{issuer}/introspect")
        );
        assert_eq!(body["revocation_endpoint"], format!("{issuer}/revoke"));
        assert_eq!(body["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            body["token_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(body["scopes_supported"], json!(ALL_FEATURES));
    }
    app.request(Method::GET, "/oauth/nosuchappnosuchappnosuchap/jwks")
        .fetch()
        .await
        .is(404, oauth_error("not_found", "application not found"));

    let res = app
        .request(Method::GET, &format!("/oauth/{}/jwks", owner.app_id))
        .fetch()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["cache-control"], "public, max-age=300");
    let body: Value = res.body;
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none(), "no private part");
    // The private key is sealed at rest.
    let sealed: Vec<u8> = app
        .scalar("SELECT sealed FROM oauth_signing_keys", &[])
        .await;
    assert!(!String::from_utf8_lossy(&sealed).contains("MIG"));
    assert_eq!(app.audit_count(&owner.app_id, "oauth.key_create").await, 1);
}

#[tokio::test]
async fn tokens_with_basic_and_post_verify_offline() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let Made { id, secret, .. } = app
        .make_client(&owner, "backend", &["access_issuer", "direct_access"])
        .await;
    let issuer = format!("{PUBLIC_URL}/oauth/{}", owner.app_id);

    let (status, body, headers) = app
        .token_basic(
            &owner.app_id,
            &id,
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://api.example.com"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "access_issuer direct_access");
    let token = body["access_token"].as_str().unwrap();
    let claims = verify(
        token,
        &app.jwks(&owner.app_id).await,
        &issuer,
        "https://api.example.com",
    );
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["scope"], "access_issuer direct_access");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 16);

    // client_secret_post, a narrower scope, no resource: the audience is the issuer.
    let (status, body) = app
        .token_form(
            &owner.app_id,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "direct_access"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "direct_access");
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &app.jwks(&owner.app_id).await,
        &issuer,
        &issuer,
    );
    assert_eq!(claims["scope"], "direct_access");

    // Counted per application and outcome.
    let metrics = app.request(Method::GET, "/metrics").fetch().await.text;
    let line = format!(
        r#"latchkey_oauth_token_requests_total{{app="{}",outcome="issued"}} 2"#,
        owner.app_id
    );
    assert!(metrics.contains(&line), "{metrics}");
}

#[tokio::test]
async fn every_token_error() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = &owner.app_id;
    let Made { id, secret, .. } = app.make_client(&owner, "backend", &["direct_access"]).await;
    let (login, login_secret) = app
        .make_client(&owner, "browser", &["login_client"])
        .await
        .credentials();
    let (far, far_secret) = app
        .fenced_client(&owner, "far", &["direct_access"], &["10.0.0.0/8"])
        .await
        .credentials();
    let cc = ("grant_type", "client_credentials");

    // Wrong secret and unknown client: one answer, 401 with a challenge.
    let (status, body, headers) = app
        .token_basic(a, &id, "wrongwrongwrongwrongwrongwrong00", &[cc])
        .await;
    assert_eq!(
        (status, &body),
        (
            401,
            &oauth_error("invalid_client", "client authentication failed")
        )
    );
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="latchkey", error="invalid_client""#
    );
    assert_eq!(headers["cache-control"], "no-store");
    let (status, body, _) = app
        .token_basic(a, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", &secret, &[cc])
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            oauth_error("invalid_client", "client authentication failed")
        )
    );
    // No authentication at all.
    let (status, body) = app.token_form(a, &[cc]).await;
    assert_eq!(
        (status, body),
        (
            401,
            oauth_error("invalid_client", "client authentication failed")
        )
    );
    // Another application's endpoint.
    let other = app.create_app("other").await;
    let (status, _, _) = app.token_basic(&other.app_id, &id, &secret, &[cc]).await;
    assert_eq!(status, 401);

    // Disallowed source address.
    let (status, body, _) = app.token_basic(a, &far, &far_secret, &[cc]).await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "unauthorized_client",
                "the client may not call from this address"
            )
        )
    );

    // Grant types.
    let (status, body, _) = app
        .token_basic(a, &id, &secret, &[("grant_type", "password")])
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported"
            )
        )
    );
    let (status, body, _) = app.token_basic(a, &id, &secret, &[]).await;
    assert_eq!(
        (status, body),
        (400, oauth_error("invalid_request", "grant_type is missing"))
    );
    let (status, body, _) = app.token_basic(a, &id, &secret, &[cc, cc]).await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error("invalid_request", "the parameter grant_type is repeated")
        )
    );
    // Two authentication methods at once.
    let (status, body, _) = app
        .token_basic(a, &id, &secret, &[cc, ("client_secret", &secret)])
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "invalid_request",
                "use exactly one client authentication method"
            )
        )
    );
    // An assertion type without its assertion.
    let (status, body, _) = app
        .token_basic(
            a,
            &id,
            &secret,
            &[cc, ("client_assertion_type", ASSERTION_TYPE)],
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "invalid_request",
                "client_assertion_type without client_assertion"
            )
        )
    );
    // Not a form.
    app.by_client(&id, &secret)
        .post(
            &format!("/oauth/{a}/token"),
            &json!({"grant_type": "client_credentials"}),
        )
        .await
        .is(
            400,
            oauth_error(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ),
        );

    // Scopes.
    let (status, body, _) = app
        .token_basic(a, &id, &secret, &[cc, ("scope", "owner")])
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "invalid_scope",
                r#"the scope names "owner", which is not a feature of this client"#
            )
        )
    );
    let (status, body, _) = app
        .token_basic(a, &id, &secret, &[cc, ("scope", "bogus")])
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "invalid_scope",
                r#"the scope names "bogus", which is not a feature of this client"#
            )
        )
    );
    let (status, body, _) = app.token_basic(a, &login, &login_secret, &[cc]).await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "unauthorized_client",
                "login_client clients cannot use the client_credentials grant"
            )
        )
    );
    // Resource indicators.
    let (status, body, _) = app
        .token_basic(a, &id, &secret, &[cc, ("resource", "not a uri")])
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "invalid_target",
                "resource must be an absolute URI without a fragment"
            )
        )
    );

    let metrics = app.request(Method::GET, "/metrics").fetch().await.text;
    assert!(
        metrics
            .contains(r#"latchkey_oauth_token_requests_total{app="-",outcome="invalid_client"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            r#"latchkey_oauth_token_requests_total{{app="{a}",outcome="invalid_scope"}} 2"#
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn introspection_and_revocation() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.clone();
    let (rs, rs_secret) = app
        .make_client(&owner, "resource server", &["access_issuer"])
        .await
        .credentials();
    let Made { id, secret, .. } = app
        .make_client(&owner, "backend", &["direct_access", "direct_read_access"])
        .await;
    let (peer, peer_secret) = app
        .make_client(&owner, "peer", &["direct_read_access"])
        .await
        .credentials();
    let token = app.access_token(&a, &id, &secret).await;

    let body = app.introspect(&a, &rs, &rs_secret, &token).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], id.as_str());
    assert_eq!(body["scope"], "direct_access direct_read_access");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], format!("{PUBLIC_URL}/oauth/{a}"));
    // The token's own client may introspect it; a peer without owner/access_issuer sees nothing.
    assert_eq!(
        app.introspect(&a, &id, &secret, &token).await["active"],
        true
    );
    assert_eq!(
        app.introspect(&a, &peer, &peer_secret, &token).await,
        json!({"active": false})
    );
    // Garbage.
    assert_eq!(
        app.introspect(&a, &rs, &rs_secret, "not.a.token").await,
        json!({"active": false})
    );
    // A's token at B's introspection.
    let other = app.create_app("other").await;
    let (b_rs, b_secret) = app
        .make_client(&other, "rs", &["access_issuer"])
        .await
        .credentials();
    assert_eq!(
        app.introspect(&other.app_id, &b_rs, &b_secret, &token)
            .await,
        json!({"active": false})
    );
    // Bad caller credentials.
    app.as_client(
        &rs,
        "wrongwrongwrongwrongwrongwrong00",
        Method::POST,
        &format!("/oauth/{a}/introspect"),
    )
    .form(&[("token", &token)])
    .fetch()
    .await
    .is(
        401,
        oauth_error("invalid_client", "client authentication failed"),
    );

    // Revocation: a peer may not revoke another client's token; unknown tokens are fine.
    let revoke = |who: (&str, &str), t: &str| {
        app.as_client(who.0, who.1, Method::POST, &format!("/oauth/{a}/revoke"))
            .form(&[("token", t), ("token_type_hint", "access_token")])
            .send()
    };
    let (status, body) = status_json(revoke((&peer, &peer_secret), &token).await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error(
                "unauthorized_client",
                "only the token's own client or an owner may revoke it"
            )
        )
    );
    let res = revoke((&peer, &peer_secret), "unknown").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = revoke((&id, &secret), &token).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.introspect(&a, &rs, &rs_secret, &token).await,
        json!({"active": false})
    );
    // Once audited, however often revoked.
    assert_eq!(
        revoke((&owner.client_id, &owner.secret), &token)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.audit_count(&a, "oauth.token_revoke").await, 1);

    // Losing a feature of the scope makes the client's tokens inactive; so does deletion.
    let token = app.access_token(&a, &id, &secret).await;
    let narrow = app
        .access_token_scoped(&a, &id, &secret, "direct_read_access")
        .await;
    assert_eq!(
        app.introspect(&a, &rs, &rs_secret, &token).await["active"],
        true
    );
    let res = app
        .by(&owner)
        .put(
            &format!("/config/{a}/clients/{id}"),
            &json!({"name": "backend", "features": ["direct_read_access"]}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        app.introspect(&a, &rs, &rs_secret, &token).await,
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(&a, &rs, &rs_secret, &narrow).await["active"],
        true
    );
    let res = app
        .by(&owner)
        .delete(&format!("/config/{a}/clients/{id}"))
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        app.introspect(&a, &rs, &rs_secret, &narrow).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn revocation_reaches_another_instance() {
    let app = spawn_app().await;
    // Instances behind one load balancer share LATCHKEY_PUBLIC_URL (so the issuer): the test
    // servers all have the same one.
    let peer = app.spawn_peer(|_| {}).await;
    listening(&[&app, &peer]).await;
    let owner = app.create_app("shop").await;
    let a = owner.app_id.clone();
    let Made { id, secret, .. } = app
        .make_client(&owner, "backend", &["access_issuer", "direct_access"])
        .await;
    let token = app.access_token(&a, &id, &secret).await;
    // The peer has the client in its snapshot and the key set in its cache.
    assert_eq!(
        peer.introspect(&a, &id, &secret, &token).await["active"],
        true
    );
    assert_eq!(
        peer.introspect(&a, &id, &secret, &token).await["active"],
        true
    );
    let res = app
        .as_client(&id, &secret, Method::POST, &format!("/oauth/{a}/revoke"))
        .form(&[("token", &token)])
        .fetch()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        peer.introspect(&a, &id, &secret, &token).await,
        json!({"active": false})
    );
}

impl TestApp {
    async fn access_token_scoped(
        &self,
        app_id: &str,
        id: &str,
        secret: &str,
        scope: &str,
    ) -> String {
        let (status, body, _) = self
            .token_basic(
                app_id,
                id,
                secret,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// A client key pair: the PKCS#8 DER of the private key and its public JWK.
fn client_key(kid: &str) -> (Vec<u8>, Value) {
    let (private, jwk) = jose::generate(SigningAlg::Es256, kid).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(private.as_str())
        .unwrap();
    (der, serde_json::to_value(jwk).unwrap())
}

fn assertion(der: &[u8], kid: &str, client_id: &str, aud: &str, exp_in: i64, jti: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + exp_in, "jti": jti}),
        &EncodingKey::from_ec_der(der),
    )
    .unwrap()
}

#[tokio::test]
async fn private_key_jwt() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.clone();
    let id = app.add_client(&owner, "backend", &["direct_access"]).await;
    let jwks_path = format!("/config/{a}/clients/{id}/jwks");
    let (der, jwk) = client_key("ck1");
    let (other_der, _) = client_key("ck1");

    // Registering keys: refused shapes, then a public key, audited.
    app.by(&owner)
        .get(&jwks_path)
        .await
        .is(200, json!({"keys": []}));
    app.by(&owner)
        .put(&jwks_path, &json!({"keys": []}))
        .await
        .is(400, errors("Not a valid JWK set: the key set holds no key"));
    let mut private = jwk.clone();
    private["d"] = json!("AAAA");
    app.by(&owner)
        .put(&jwks_path, &json!({"keys": [private]}))
        .await
        .is(
            400,
            errors("Not a valid JWK set: key 0 holds private material: register public keys only"),
        );
    app.by(&owner)
        .put(&jwks_path, &json!({"keys": [jwk]}))
        .await
        .is(200, json!({"keys": [jwk]}));
    assert_eq!(app.audit_count(&a, "client.jwks_set").await, 1);

    let token_url = format!("{PUBLIC_URL}/oauth/{a}/token");
    let issuer = format!("{PUBLIC_URL}/oauth/{a}");
    let post = |assertion: String| {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion),
        ];
        app.request(Method::POST, &format!("/oauth/{a}/token"))
            .form(&form)
            .fetch()
    };
    // Accepted with aud = the token endpoint or the issuer.
    let good = assertion(&der, "ck1", &id, &token_url, 300, "j1");
    let (status, body) = post(good.clone()).await.pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "direct_access");
    let (status, _) = post(assertion(&der, "ck1", &id, &issuer, 300, "j2"))
        .await
        .pair();
    assert_eq!(status, 200);
    let invalid = (
        401,
        oauth_error("invalid_client", "client authentication failed"),
    );
    // Replayed (the same jti, even re-signed); expired, too long, wrong audience, an
    // unregistered key.
    for (why, refused) in [
        ("replayed", good),
        (
            "re-signed replay",
            assertion(&der, "ck1", &id, &issuer, 300, "j1"),
        ),
        ("expired", assertion(&der, "ck1", &id, &issuer, -120, "j3")),
        ("too long", assertion(&der, "ck1", &id, &issuer, 7200, "j4")),
        (
            "wrong audience",
            assertion(&der, "ck1", &id, "https://elsewhere", 300, "j5"),
        ),
        (
            "unregistered key",
            assertion(&other_der, "ck1", &id, &issuer, 300, "j6"),
        ),
    ] {
        assert_eq!(post(refused).await.pair(), invalid, "{why}");
    }
    // Wrong assertion type.
    app.request(Method::POST, &format!("/oauth/{a}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "x"),
            ("client_assertion", "y"),
        ])
        .fetch()
        .await
        .is(
            400,
            oauth_error(
                "invalid_request",
                &format!("client_assertion_type must be {ASSERTION_TYPE}"),
            ),
        );

    // Removing the keys: audited; assertions no longer work.
    assert_eq!(app.by(&owner).delete(&jwks_path).await.status, 204);
    assert_eq!(app.audit_count(&a, "client.jwks_delete").await, 1);
    app.by(&owner)
        .delete(&jwks_path)
        .await
        .is(404, errors("No key set registered."));
    assert_eq!(
        post(assertion(&der, "ck1", &id, &issuer, 300, "j7"))
            .await
            .pair(),
        invalid
    );
}

#[tokio::test]
async fn settings_eddsa_and_rotation_under_load() {
    let app = spawn_app_with(|s| s.oauth.jwks_max_age_secs = 1).await;
    let owner = app.create_app("shop").await;
    let a = owner.app_id.clone();
    let Made { id, secret, .. } = app.make_client(&owner, "backend", &["direct_access"]).await;
    // Settings: validation, then EdDSA and a shorter lifetime.
    app.operator()
        .patch(
            &format!("/apps/{a}/oauth"),
            &json!({"tokenLifetimeSecs": 10}),
        )
        .await
        .is(
            400,
            errors("Must be greater than or equal to 60 and less than or equal to 86400."),
        );
    let body = app
        .operator()
        .patch(
            &format!("/apps/{a}/oauth"),
            &json!({"tokenLifetimeSecs": 60, "signingAlg": "EdDSA"}),
        )
        .await
        .status_is(200);
    assert_eq!(body["signingAlg"], "EdDSA");
    assert_eq!(body["tokenLifetimeSecs"], 60);
    // Owners cannot rotate.
    let res = app
        .by(&owner)
        .call(Method::POST, &format!("/apps/{a}/oauth/rotate"))
        .await;
    assert_eq!(res.status, 401);

    let issuer = format!("{PUBLIC_URL}/oauth/{a}");
    // A resource server that caches the JWKS for its max-age (1 s) and refetches after.
    let mut cached = app.jwks(&a).await;
    let mut fetched = std::time::Instant::now();
    let mut verified = 0;
    let mut rotations: i64 = 0;
    let mut kids = std::collections::BTreeSet::new();
    // Three rotations 1.5 s apart (each past the previous key's start), tokens issued and
    // verified all along, until 1.5 s after the last one; bounded at 60 s on a slow machine.
    let started = std::time::Instant::now();
    let mut last_rotation = started;
    let hard_stop = started + std::time::Duration::from_secs(60);
    let step = std::time::Duration::from_millis(1500);
    while std::time::Instant::now() < hard_stop && (rotations < 3 || last_rotation.elapsed() < step)
    {
        if rotations < 3 && last_rotation.elapsed() >= step {
            last_rotation = std::time::Instant::now();
            let body = app
                .operator()
                .call(Method::POST, &format!("/apps/{a}/oauth/rotate"))
                .await
                .status_is(200);
            assert_eq!(body["newKey"]["alg"], "EdDSA");
            rotations += 1;
        }
        let token = app.access_token(&a, &id, &secret).await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        kids.insert(header.kid.clone().unwrap());
        if fetched.elapsed() >= std::time::Duration::from_secs(1) {
            cached = app.jwks(&a).await;
            fetched = std::time::Instant::now();
        }
        let claims = verify(&token, &cached, &issuer, &issuer);
        assert_eq!(claims["sub"], id.as_str());
        verified += 1;
    }
    assert!(
        rotations >= 2,
        "rotated {rotations} times in {verified} tokens"
    );
    assert!(
        kids.len() >= 2,
        "tokens were signed by the new keys too: {kids:?}"
    );
    assert_eq!(app.audit_count(&a, "oauth.key_rotate").await, rotations);
    // Old keys are still published (their tokens live 60 s) and marked.
    let body = app
        .operator()
        .get(&format!("/apps/{a}/oauth"))
        .await
        .status_is(200);
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len() as i64, 1 + rotations);
    assert_eq!(keys.iter().filter(|k| k["signing"] == true).count(), 1);
    assert_eq!(keys.iter().filter(|k| k["retiresAt"].is_null()).count(), 1);
}

/// The `changes` of every event of `action` in the application's log, in order.
async fn changes_of(app: &TestApp, app_id: &str, action: &str) -> Vec<Value> {
    app.audit_rows(app_id)
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["changes"].clone())
        .collect()
}

/// RFC 3339 as the OAuth events write it (chrono's form, `+00:00`).
fn rfc3339(v: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .to_rfc3339()
}

#[tokio::test]
async fn oauth_audit_events_carry_exactly_their_payloads() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    let a = owner.app_id.clone();
    let Made { id, secret, .. } = app.make_client(&owner, "svc", &["direct_access"]).await;

    // The first key, made on the first token: its id and algorithm only.
    let token = app.access_token(&a, &id, &secret).await;
    let first = app.jwks(&a).await.keys[0].common.key_id.clone().unwrap();
    assert_eq!(
        changes_of(&app, &a, "oauth.key_create").await,
        [json!({"kid": first, "alg": "ES256"})]
    );

    // Settings: each change as {from, to}; nothing changed, no event.
    for (body, expected) in [
        (
            json!({"signingAlg": "EdDSA"}),
            Some(json!({"signingAlg": {"from": "ES256", "to": "EdDSA"}})),
        ),
        (json!({"signingAlg": "EdDSA"}), None),
        (
            json!({"tokenLifetimeSecs": 60, "signingAlg": "ES256"}),
            Some(json!({"signingAlg": {"from": "EdDSA", "to": "ES256"},
                        "tokenLifetimeSecs": {"from": 600, "to": 60}})),
        ),
    ] {
        let before = changes_of(&app, &a, "oauth.settings_update").await.len();
        app.operator()
            .patch(&format!("/apps/{a}/oauth"), &body)
            .await
            .status_is(200);
        let all = changes_of(&app, &a, "oauth.settings_update").await;
        match expected {
            Some(e) => assert_eq!(all[before..], [e]),
            None => assert_eq!(all.len(), before),
        }
    }

    // A rotation: the new key, when it signs, and the retiring key with when it leaves.
    app.operator()
        .call(Method::POST, &format!("/apps/{a}/oauth/rotate"))
        .await
        .status_is(200);
    let rotations = changes_of(&app, &a, "oauth.key_rotate").await;
    assert_eq!(rotations.len(), 1);
    let r = &rotations[0];
    let new = app
        .jwks(&a)
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .find(|k| *k != first)
        .unwrap();
    assert_eq!(
        r,
        &json!({"kid": new, "alg": "ES256", "signsFrom": rfc3339(&r["signsFrom"]),
                "retiring": [{"kid": first, "retiresAt": rfc3339(&r["retiring"][0]["retiresAt"])}]})
    );
    // The key signs once the key set's max-age (300 s) has passed; the old one leaves a token
    // lifetime (now 60 s) later.
    let signs_from =
        chrono::DateTime::parse_from_rfc3339(r["signsFrom"].as_str().unwrap()).unwrap();
    let retires_at =
        chrono::DateTime::parse_from_rfc3339(r["retiring"][0]["retiresAt"].as_str().unwrap())
            .unwrap();
    assert_eq!(retires_at.timestamp() - signs_from.timestamp(), 60);

    // A revocation: the token's jti and its expiry.
    app.as_client(&id, &secret, Method::POST, &app.oauth(&a, "revoke"))
        .form(&[("token", token.as_str())])
        .fetch()
        .await
        .status_is(200);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwks = app.jwks(&a).await;
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    let claims =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;
    let expires_at = chrono::DateTime::from_timestamp(claims["exp"].as_i64().unwrap(), 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(
        changes_of(&app, &a, "oauth.token_revoke").await,
        [json!({"jti": claims["jti"], "expiresAt": expires_at})]
    );

    // A client's keys: set (from none), replaced, removed — their ids only.
    let path = format!("/config/{a}/clients/{id}/jwks");
    let (_, k1) = client_key("ck1");
    let (_, k2) = client_key("ck2");
    for keys in [json!([k1]), json!([k1, k2])] {
        app.by(&owner)
            .put(&path, &json!({ "keys": keys }))
            .await
            .status_is(200);
    }
    app.by(&owner).delete(&path).await.status_is(204);
    assert_eq!(
        changes_of(&app, &a, "client.jwks_set").await,
        [
            json!({"kids": {"from": null, "to": ["ck1"]}}),
            json!({"kids": {"from": ["ck1"], "to": ["ck1", "ck2"]}})
        ]
    );
    assert_eq!(
        changes_of(&app, &a, "client.jwks_delete").await,
        [json!({"kids": {"from": ["ck1", "ck2"], "to": null}})]
    );
}

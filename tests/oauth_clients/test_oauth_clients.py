"""Real OAuth 2.0 clients against a live Latchkey (run by run.sh beside this file).

authlib obtains client-credentials tokens with client_secret_basic, client_secret_post and
private_key_jwt, and introspects and revokes them; PyJWT's PyJWKClient verifies the tokens
against the jwks_uri of the RFC 8414 metadata (signature, issuer, audience, expiry).
"""

import json
import os
import subprocess
import sys
import time
import traceback

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

URL = os.environ["LATCHKEY_URL"]
APP = os.environ["APP_ID"]
OWNER = (os.environ["OWNER_ID"], os.environ["OWNER_SECRET"])
OPERATOR = {"Authorization": "Bearer " + os.environ["LATCHKEY_OPERATOR_TOKEN"]}
RESOURCE = "https://api.example.com/orders"


def config(method, path, body=None):
    res = requests.request(method, f"{URL}/config/{APP}{path}", auth=OWNER, json=body, timeout=10)
    assert res.status_code < 300, (path, res.status_code, res.text)
    return res.json() if res.text else None


def new_client(name, features):
    c = config("POST", "/clients", {"name": name, "features": features})
    return c["_id"], c["_secret"]


META = requests.get(f"{URL}/.well-known/oauth-authorization-server/oauth/{APP}", timeout=10).json()
BACKEND = new_client("backend", ["access_issuer", "direct_access"])
READER = new_client("reader", ["direct_read_access"])


def verify(token, audience=RESOURCE, options=None, **kwargs):
    """A resource server's offline check: the key from jwks_uri (by kid), issuer, audience, exp."""
    signing_key = jwt.PyJWKClient(META["jwks_uri"]).get_signing_key_from_jwt(token)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=["ES256", "EdDSA"],
        issuer=META["issuer"],
        audience=audience,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"], **(options or {})},
        **kwargs,
    )


def session(client, method):
    return OAuth2Session(client[0], client[1], token_endpoint_auth_method=method)


def test_metadata():
    assert META["issuer"] == f"{URL}/oauth/{APP}", META
    same = requests.get(f"{URL}/oauth/{APP}/.well-known/oauth-authorization-server", timeout=10)
    assert same.json() == META
    assert META["grant_types_supported"] == ["client_credentials"]
    assert "private_key_jwt" in META["token_endpoint_auth_methods_supported"]
    res = requests.get(META["jwks_uri"], timeout=10)
    assert res.headers["Cache-Control"] == "public, max-age=300", res.headers


def test_client_secret_basic():
    token = session(BACKEND, "client_secret_basic").fetch_token(
        META["token_endpoint"], grant_type="client_credentials", resource=RESOURCE
    )
    assert token["token_type"] == "Bearer" and token["expires_in"] == 600, token
    claims = verify(token["access_token"])
    assert claims["client_id"] == claims["sub"] == BACKEND[0]
    assert claims["scope"] == "access_issuer direct_access"
    assert claims["exp"] - claims["iat"] == 600


def test_client_secret_post_with_scope():
    token = session(BACKEND, "client_secret_post").fetch_token(
        META["token_endpoint"], grant_type="client_credentials", scope="direct_access"
    )
    # No resource: the audience is the issuer.
    claims = verify(token["access_token"], audience=META["issuer"])
    assert claims["scope"] == "direct_access"


def test_expiry_is_checked():
    token = session(READER, "client_secret_basic").fetch_token(
        META["token_endpoint"], grant_type="client_credentials", resource=RESOURCE
    )["access_token"]
    try:
        # As if the clock were 601 s later (iat is then in the past, not checked here).
        verify(token, leeway=-601, options={"verify_iat": False})
    except jwt.ExpiredSignatureError:
        return
    raise AssertionError("an expired token verified")


def test_wrong_secret_and_scope():
    bad = OAuth2Session(BACKEND[0], "x" * 32, token_endpoint_auth_method="client_secret_basic")
    try:
        bad.fetch_token(META["token_endpoint"], grant_type="client_credentials")
    except Exception as e:  # authlib raises OAuthError
        assert getattr(e, "error", None) == "invalid_client", e
    else:
        raise AssertionError("a wrong secret got a token")
    try:
        session(READER, "client_secret_post").fetch_token(
            META["token_endpoint"], grant_type="client_credentials", scope="owner"
        )
    except Exception as e:
        assert getattr(e, "error", None) == "invalid_scope", e
    else:
        raise AssertionError("a scope beyond the client's features was granted")


def test_private_key_jwt():
    client_id, _ = new_client("signer", ["direct_access"])
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = ECKey.import_key(pem)
    public = key.as_dict(private=False)
    public.update({"kid": "signer-1", "alg": "ES256", "use": "sig"})
    assert config("PUT", f"/clients/{client_id}/jwks", {"keys": [public]}) == {"keys": [public]}
    sess = OAuth2Session(
        client_id,
        key,
        token_endpoint_auth_method=PrivateKeyJWT(META["token_endpoint"], alg="ES256", headers={"kid": "signer-1"}),
    )
    for _ in range(2):  # a fresh assertion (jti) each time
        token = sess.fetch_token(META["token_endpoint"], grant_type="client_credentials", resource=RESOURCE)
        assert verify(token["access_token"])["sub"] == client_id


def test_introspection_and_revocation():
    backend = session(BACKEND, "client_secret_basic")
    reader = session(READER, "client_secret_basic")
    token = reader.fetch_token(META["token_endpoint"], grant_type="client_credentials")["access_token"]
    # The backend has access_issuer: it may introspect any token of the application.
    res = backend.introspect_token(META["introspection_endpoint"], token=token)
    body = res.json()
    assert res.status_code == 200 and body["active"] is True, body
    assert body["client_id"] == READER[0] and body["scope"] == "direct_read_access", body
    assert res.headers["Cache-Control"] == "no-store"
    # The token's own client revokes it; introspection says so at once.
    res = reader.revoke_token(META["revocation_endpoint"], token=token, token_type_hint="access_token")
    assert res.status_code == 200, res.text
    body = backend.introspect_token(META["introspection_endpoint"], token=token).json()
    assert body == {"active": False}, body
    # Unknown tokens: 200 as well.
    assert reader.revoke_token(META["revocation_endpoint"], token="nonsense").status_code == 200


def test_rotation_is_published_at_once():
    before = {k["kid"] for k in requests.get(META["jwks_uri"], timeout=10).json()["keys"]}
    out = subprocess.run(
        [os.environ["LATCHKEY_BIN"], "oauth", "keys", "rotate", "--app", APP],
        check=True, capture_output=True, text=True,
    ).stdout
    new_kid = json.loads(out)["newKey"]["kid"]
    # Another process rotated: this server hears of it through the change notification.
    deadline = time.monotonic() + 2
    while True:
        after = {k["kid"] for k in requests.get(META["jwks_uri"], timeout=10).json()["keys"]}
        if new_kid in after or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert after == before | {new_kid}, (before, after)
    # Tokens are still signed with the old key (the new one signs after the JWKS max-age).
    token = session(BACKEND, "client_secret_basic").fetch_token(
        META["token_endpoint"], grant_type="client_credentials", resource=RESOURCE
    )["access_token"]
    assert jwt.get_unverified_header(token)["kid"] in before
    verify(token)


def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, test in tests:
        try:
            test()
            passed += 1
            print(f"ok   {name}")
        except Exception:
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Real OAuth clients against a live `latchkey serve` (issue #19, docs/oauth.md): authlib obtains
# tokens with client_secret_basic, client_secret_post and private_key_jwt, introspects and
# revokes them; PyJWT's PyJWKClient verifies them against jwks_uri from the RFC 8414 metadata.
#
# Needs DATABASE_URL (a role that may create databases), python3 and cargo. The venv (PyPI,
# pinned versions) is cached under target/oauth-clients-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
venv=target/oauth-clients-venv
if ! "$venv/bin/python" -c 'import authlib, jwt, requests, cryptography' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "authlib==1.9.6" "pyjwt[crypto]==2.15.1" "requests==2.34.2"
fi

# The issuer comes from LATCHKEY_PUBLIC_URL, not from the listen address.
LIVE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export LATCHKEY_PUBLIC_URL="http://localhost:$LIVE_PORT"
. tests/support/live_server.sh
live_server_start lk_oauth_clients
# The clients reach the server by its public address (the issuer they check).
export LATCHKEY_URL="$LATCHKEY_PUBLIC_URL"

timeout 300 "$venv/bin/python" tests/oauth_clients/test_oauth_clients.py

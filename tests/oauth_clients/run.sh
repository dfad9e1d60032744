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
. tests/support/live_server.sh
venv=target/oauth-clients-venv
python_venv "$venv" 'import authlib, jwt, requests, cryptography' \
  "authlib==1.9.6" "pyjwt[crypto]==2.15.1" "requests==2.34.2"

# The issuer comes from LATCHKEY_PUBLIC_URL, not from the listen address.
LIVE_PORT=$(free_port)
export LATCHKEY_PUBLIC_URL="http://localhost:$LIVE_PORT"
live_server_start lk_oauth_clients
# The clients reach the server by its public address (the issuer they check).
export LATCHKEY_URL="$LATCHKEY_PUBLIC_URL"

timeout 300 "$venv/bin/python" tests/oauth_clients/test_oauth_clients.py

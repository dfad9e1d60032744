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

cargo build --quiet --bin latchkey
bin="$PWD/target/debug/latchkey"

# A database of its own, dropped at the end.
db="lk_oauth_clients_$$"
base="${DATABASE_URL%%\?*}"
server="${base%/*}"
psql -q "$DATABASE_URL" -c "CREATE DATABASE \"$db\"" >/dev/null
export DATABASE_URL="$server/$db"
LATCHKEY_SEALING_KEY="$("$bin" keys generate)"
export LATCHKEY_SEALING_KEY
export LATCHKEY_OPERATOR_TOKEN="oauth-clients-operator-$$-token"
export RUST_LOG=warn
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export LATCHKEY_LISTEN="127.0.0.1:$port"
export LATCHKEY_PUBLIC_URL="http://localhost:$port"

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql -q "$base" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin" migrate >/dev/null
created="$("$bin" apps create --name oauth-clients)"
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d' + sys.argv[2]))" "$created" "$1"; }
export APP_ID="$(field "['app_id']")"
export OWNER_ID="$(field "['owner']['_id']")"
export OWNER_SECRET="$(field "['owner']['_secret']")"
export LATCHKEY_URL="$LATCHKEY_PUBLIC_URL"
export LATCHKEY_BIN="$bin"

"$bin" serve &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$LATCHKEY_URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

timeout 300 "$venv/bin/python" tests/oauth_clients/test_oauth_clients.py

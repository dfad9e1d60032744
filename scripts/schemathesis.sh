#!/usr/bin/env bash
# Runs schemathesis (PyPI, pinned) against a live `latchkey serve` and its /openapi.json, with
# every check, a fixed seed and a bounded number of examples. Exits non-zero on any failure.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/schemathesis.sh
#
# The venv is cached under target/schemathesis-venv (re-runs skip pip). The server gets a fresh
# database of its own (dropped at exit), an operator token and one application whose owner
# client authenticates the Config and Registration API calls (see scripts/schemathesis.toml).
# LATCHKEY_BIN picks the binary (default: target/debug/latchkey, built first).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SEED="${SCHEMATHESIS_SEED:-20261201}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-12}"
TIME_LIMIT="${SCHEMATHESIS_TIME_LIMIT:-180}"

: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server this script may create a database on}"

venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

bin="${LATCHKEY_BIN:-}"
if [ -z "$bin" ]; then
  # A no-op when `cargo test` just built it.
  cargo build --quiet --bin latchkey
  bin=target/debug/latchkey
fi

# A database of our own on the same server.
db="latchkey_schemathesis_$$"
base_url="${DATABASE_URL%/*}"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="$base_url/$db"
export LATCHKEY_OPERATOR_TOKEN="schemathesis-operator-$RANDOM$RANDOM$RANDOM"
# Cheap hashing and no failure limit: schemathesis sends wrong credentials on purpose.
export LATCHKEY_ARGON2_M_COST=1024 LATCHKEY_ARGON2_T_COST=1
export LATCHKEY_AUTH_FAILURE_LIMIT=1000000
# A sealing key, so applications with signed_requests / show_secrets can be created.
LATCHKEY_SEALING_KEY=$(head -c 32 /dev/urandom | base64)
export LATCHKEY_SEALING_KEY
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export LATCHKEY_LISTEN="127.0.0.1:$port"
export LATCHKEY_DATA_DIR="target/schemathesis-data"
base="http://127.0.0.1:$port"

server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  psql -q "$base_url/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin" migrate >/dev/null 2>&1
app=$("$bin" apps create --name schemathesis 2>/dev/null)
read -r APP_ID OWNER_ID OWNER_SECRET < <(printf '%s' "$app" |
  "$venv/bin/python" -c 'import json,sys; a=json.load(sys.stdin); print(a["app_id"], a["owner"]["_id"], a["owner"]["_secret"])')
export APP_ID OWNER_ID OWNER_SECRET

log=target/schemathesis-server.log
"$bin" serve >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

status=0
timeout "$TIME_LIMIT" "$venv/bin/schemathesis" --config-file "${SCHEMATHESIS_CONFIG:-scripts/schemathesis.toml}" run "$base/openapi.json" \
  --seed "$SEED" --max-examples "$MAX_EXAMPLES" --workers 1 \
  --suppress-health-check all --generation-database none --no-color "$@" || status=$?
if [ "$status" = 124 ]; then
  echo "schemathesis: over the ${TIME_LIMIT}s limit" >&2
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "schemathesis: the server died; its log:" >&2
  tail -50 "$log" >&2
  status=1
fi
exit "$status"

#!/usr/bin/env bash
# Compatibility test with the vendor's own Python libraries (issue #11): janrain-python-api and
# janrain-datalib from PyPI, used with their defaults (signed requests) against a live
# `latchkey serve` on a fresh database, with an application created by
# `latchkey apps create --signed-requests`.
#
# Needs DATABASE_URL (a role that may create databases), python3 and cargo. The venv is cached
# under target/vendor-libs-venv; the libraries need setuptools<58 and --no-build-isolation.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
. tests/support/common.sh
venv=target/vendor-libs-venv
libs='import janrain.capture, janrain_datalib'
# The libraries build only with setuptools<58, installed first, and --no-build-isolation.
python_venv "$venv" "$libs" "setuptools<58" wheel
if ! "$venv/bin/python" -c "$libs" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation \
    "janrain-python-api==0.4.0" "janrain-datalib==0.2.1"
fi

cargo build --quiet --bin latchkey
bin="$PWD/target/debug/latchkey"
export LATCHKEY_BIN="$bin"

# A database of its own, dropped at the end.
db="lk_vendor_libs_$$"
own_database "$db" vendor-libs
base="$own_db_base"
server="$own_db_server"
port=$(free_port)
export LATCHKEY_LISTEN="127.0.0.1:$port"

server_pid=""
target_pid=""
target_db="lk_vendor_libs_target_$$"
cleanup() {
  for pid in $server_pid $target_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  psql -q "$base" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  psql -q "$base" -c "DROP DATABASE IF EXISTS \"$target_db\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin" migrate >/dev/null
created="$("$bin" apps create --name vendor-libs --signed-requests)"
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d' + sys.argv[2]))" "$created" "$1"; }
export APP_ID="$(field "['app_id']")"
export OWNER_ID="$(field "['owner']['_id']")"
export OWNER_SECRET="$(field "['owner']['_secret']")"
export LATCHKEY_URL="http://127.0.0.1:$port"
export LATCHKEY_BIN="$bin"

# Waits (10 s at most) until the server at $1 answers /healthz.
wait_healthy() {
  for _ in $(seq 1 100); do
    curl -fsS "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
}

"$bin" serve &
server_pid=$!
wait_healthy "$LATCHKEY_URL"

timeout 300 "$venv/bin/python" tests/vendor_libs/test_vendor_libs.py

# Issue #18, Latchkey → Latchkey: the application above gets show_secrets (so its Config API
# discloses secrets, as the vendor's does), entity types, access schemas, settings and more
# clients; it is imported into a second database served by a second server; --verify must
# report no difference; then the libraries drive the target with the source's credentials.
"$bin" apps set --app-id "$APP_ID" --show-secrets true >/dev/null
"$bin" apply --app "$APP_ID" -f tests/vendor_libs/migration-source.yaml >/dev/null
psql -q "$base" -c "CREATE DATABASE \"$target_db\"" >/dev/null
target_port=$(free_port)
(
  export DATABASE_URL="$server/$target_db" LATCHKEY_LISTEN="127.0.0.1:$target_port"
  "$bin" migrate >/dev/null
  target="$("$bin" apps create --name migrated --signed-requests --show-secrets)"
  target_app="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["app_id"])' "$target")"
  timeout 120 "$bin" import --app "$target_app" --from "$LATCHKEY_URL/config/$APP_ID" \
    --client-id "$OWNER_ID" --client-secret "$OWNER_SECRET" --prune --verify
)
export TARGET_URL="http://127.0.0.1:$target_port" SOURCE_URL="$LATCHKEY_URL"
DATABASE_URL="$server/$target_db" LATCHKEY_LISTEN="127.0.0.1:$target_port" "$bin" serve &
target_pid=$!
wait_healthy "$TARGET_URL"
timeout 300 "$venv/bin/python" tests/vendor_libs/test_migration.py

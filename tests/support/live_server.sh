# Sourced by scripts that test Latchkey with real clients that are not Rust
# (tests/audit_evidence, tests/oauth_clients): a `latchkey serve` on a fresh database of its own,
# stopped and dropped when the script exits.
#
#   live_server_start <prefix> [extra `latchkey apps create` arguments…]
#
# Needs DATABASE_URL (a role that may create databases). Exports LATCHKEY_BIN, DATABASE_URL (the
# new database), LATCHKEY_SEALING_KEY, LATCHKEY_OPERATOR_TOKEN, LATCHKEY_LISTEN, LATCHKEY_URL,
# and APP_ID, OWNER_ID, OWNER_SECRET of an application created with `latchkey apps create`.
# Other LATCHKEY_* settings exported before the call reach the server. LIVE_PORT picks the port
# (default: a free one).

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

live_server_start() {
  local prefix=$1; shift
  : "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
  cargo build --quiet --bin latchkey
  LATCHKEY_BIN="$PWD/target/debug/latchkey"
  export LATCHKEY_BIN
  live_db="${prefix}_$$"
  own_database "$live_db" "$prefix"
  local port=${LIVE_PORT:-}
  [ -n "$port" ] || port=$(free_port)
  export LATCHKEY_LISTEN="127.0.0.1:$port"
  export LATCHKEY_URL="http://127.0.0.1:$port"
  live_server_pid=""
  trap live_server_stop EXIT

  "$LATCHKEY_BIN" migrate >/dev/null
  local created
  created="$("$LATCHKEY_BIN" apps create --name "$prefix" "$@")"
  field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d' + sys.argv[2]))" "$created" "$1"; }
  APP_ID="$(field "['app_id']")"
  OWNER_ID="$(field "['owner']['_id']")"
  OWNER_SECRET="$(field "['owner']['_secret']")"
  export APP_ID OWNER_ID OWNER_SECRET

  "$LATCHKEY_BIN" serve &
  live_server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

live_server_stop() {
  if [ -n "${live_server_pid:-}" ]; then
    kill "$live_server_pid" 2>/dev/null || true
    wait "$live_server_pid" 2>/dev/null || true
  fi
  psql -q "$own_db_base" -c "DROP DATABASE IF EXISTS \"$live_db\" WITH (FORCE)" >/dev/null 2>&1 || true
}

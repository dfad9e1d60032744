# Sourced by the real-client test scripts (tests/vendor_libs/run.sh, tests/oauth_clients/run.sh):
# a live `latchkey serve` on a fresh database of its own, with one application.
#
#   live_server DB_PREFIX [apps create arguments…]
#
# LIVE_PORT picks the port (default: a free one); LATCHKEY_PUBLIC_URL, when exported, is passed on.
# Needs DATABASE_URL (a role that may create databases). Builds the debug binary, creates the
# database (dropped on exit, the server stopped), a sealing key, an operator token and a free
# port of 127.0.0.1, creates the application, starts the server and waits until it answers.
# Exports LATCHKEY_URL (LATCHKEY_PUBLIC_URL when set), APP_ID, OWNER_ID, OWNER_SECRET,
# LATCHKEY_BIN and the server's environment.

live_server() {
  local prefix=$1
  shift
  : "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
  cargo build --quiet --bin latchkey
  LATCHKEY_BIN="$PWD/target/debug/latchkey"
  export LATCHKEY_BIN

  LIVE_DB="${prefix}_$$"
  LIVE_BASE="${DATABASE_URL%%\?*}"
  psql -q "$DATABASE_URL" -c "CREATE DATABASE \"$LIVE_DB\"" >/dev/null
  export DATABASE_URL="${LIVE_BASE%/*}/$LIVE_DB"
  LATCHKEY_SEALING_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
  export LATCHKEY_SEALING_KEY
  export LATCHKEY_OPERATOR_TOKEN="${prefix}-operator-$$-token"
  export RUST_LOG=warn
  local port=${LIVE_PORT:-}
  [ -n "$port" ] || port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export LATCHKEY_LISTEN="127.0.0.1:$port"
  export LATCHKEY_URL="${LATCHKEY_PUBLIC_URL:-http://127.0.0.1:$port}"

  LIVE_PID=""
  trap live_server_cleanup EXIT

  "$LATCHKEY_BIN" migrate >/dev/null
  local created
  created="$("$LATCHKEY_BIN" apps create --name "$prefix" "$@")"
  field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d' + sys.argv[2]))" "$created" "$1"; }
  APP_ID="$(field "['app_id']")"
  OWNER_ID="$(field "['owner']['_id']")"
  OWNER_SECRET="$(field "['owner']['_secret']")"
  export APP_ID OWNER_ID OWNER_SECRET

  "$LATCHKEY_BIN" serve &
  LIVE_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

live_server_cleanup() {
  if [ -n "$LIVE_PID" ]; then
    kill "$LIVE_PID" 2>/dev/null || true
    wait "$LIVE_PID" 2>/dev/null || true
  fi
  psql -q "$LIVE_BASE" -c "DROP DATABASE IF EXISTS \"$LIVE_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
}

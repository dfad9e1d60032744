#!/usr/bin/env bash
# Entitlements benchmark (issue #20, docs/audit.md "Access reviews"): one application with
# CLIENTS clients and EVENTS audit events (bench/entitlements/generate.sql), its materialised
# states written by the server's background task, then GET /config/{appId}/audit/entitlements
# at several dates (each RUNS times: median and worst) and the changes over one day. Target: any
# date in under 2 s at 10,000 clients and 1,000,000 events. Prints a Markdown summary;
# bench/README.md keeps the last one.
#
#   bench/entitlements/run.sh                          # PG_URL=postgres://postgres@127.0.0.1:5432
#   EVENTS=100000 CLIENTS=2000 bench/entitlements/run.sh   # a quick run
#
# Needs: PostgreSQL reachable at $PG_URL as a superuser (it creates and drops $BENCH_DB and loads
# with triggers off), curl, jq. Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-lk_bench_entitlements}
EVENTS=${EVENTS:-1000000}
CLIENTS=${CLIENTS:-10000}
PORT=${PORT:-18091}
RUNS=${RUNS:-5}
STATE_EVERY=10000   # domain::entitlements::STATE_EVERY
WORK=$(mktemp -d)
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then cargo build --release --quiet --bin latchkey; fi
LK=${LK:-target/release/latchkey}

psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
export DATABASE_URL="$PG_URL/$BENCH_DB"
export RUST_LOG=warn
$LK migrate >/dev/null
$LK apps create --name bench >"$WORK/app.json"
APP=$(jq -r .app_id "$WORK/app.json")
AUTH="$(jq -r .owner._id "$WORK/app.json"):$(jq -r .owner._secret "$WORK/app.json")"

echo "generating $EVENTS events about $CLIENTS clients in $APP ..." >&2
T0=$(date +%s.%N)
psql -q "$DATABASE_URL" -v app="$APP" -v events="$EVENTS" -v clients="$CLIENTS" -f bench/entitlements/generate.sql
GEN_S=$(echo "$(date +%s.%N) - $T0" | bc)
TOTAL=$(psql -tA "$DATABASE_URL" -c "SELECT seq FROM audit_heads WHERE app_id = '$APP'")

# The server's task writes a state every STATE_EVERY events on its first tick.
LATCHKEY_LISTEN=127.0.0.1:$PORT LATCHKEY_WORKERS=2 LATCHKEY_CHECKPOINT_SECS=5 \
  $LK serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
WANT=$((TOTAL / STATE_EVERY))
T0=$(date +%s.%N)
DEADLINE=$(( $(date +%s) + 1800 ))
while :; do
  HAVE=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM audit_entitlement_states WHERE app_id = '$APP'")
  [ "$HAVE" -ge "$WANT" ] && break
  if [ "$(date +%s)" -gt "$DEADLINE" ]; then echo "states: $HAVE of $WANT after 30 min" >&2; cat "$WORK/serve.log" >&2; exit 1; fi
  sleep 1
done
STATES_S=$(echo "$(date +%s.%N) - $T0" | bc)
STATES_SIZE=$(psql -tA "$DATABASE_URL" -c "SELECT pg_size_pretty(pg_total_relation_size('audit_entitlement_states'))")
EVENTS_SIZE=$(psql -tA "$DATABASE_URL" -c "SELECT pg_size_pretty(pg_total_relation_size('audit_events'))")

# The time of event $1, RFC 3339.
time_of_seq() {
  psql -tA "$DATABASE_URL" -c "SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM audit_events WHERE app_id = '$APP' AND seq = $1"
}
BASE="http://127.0.0.1:$PORT/config/$APP/audit/entitlements"
declare -a ROWS
measure() { # label, query
  local label=$1 query=$2 i
  : >"$WORK/times"
  for i in $(seq 1 "$RUNS"); do
    curl -sf -u "$AUTH" -o "$WORK/body" -w '%{time_total}\n' "$BASE$query" >>"$WORK/times"
  done
  local clients
  clients=$(jq 'if has("clients") then (.clients | length) else (.changes | length) end' "$WORK/body" 2>/dev/null \
    || echo $(( $(wc -l <"$WORK/body") - 1 )))
  local bytes; bytes=$(wc -c <"$WORK/body")
  local stats; stats=$(sort -n "$WORK/times" | awk '{a[NR]=$1} END {printf "%.0f ms | %.0f ms", a[int((NR+1)/2)]*1000, a[NR]*1000}')
  ROWS+=("| $label | $clients | $((bytes / 1024)) KiB | $stats |")
}
# Dates: early, middle, late, just before a stored state (the most events to fold), now.
for seq in $((CLIENTS + 5)) $((TOTAL / 2)) $((TOTAL * 9 / 10)) $(( (TOTAL / STATE_EVERY) * STATE_EVERY - 1 )); do
  measure "at revision $seq" "?at=$(time_of_seq "$seq")"
done
measure "now" ""
measure "now, CSV" "?format=csv"
FROM=$(time_of_seq $((TOTAL / 2)))
TO=$(psql -tA "$DATABASE_URL" -c "SELECT to_char((timestamptz '$FROM' + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
measure "changes over one day" "/changes?from=$FROM&to=$TO"

cat <<MD
Data: $CLIENTS clients, $TOTAL events in one application (generated in ${GEN_S%.*} s);
\`audit_events\` with its indexes: $EVENTS_SIZE. The server wrote $WANT states in ${STATES_S%.*} s;
\`audit_entitlement_states\`: $STATES_SIZE. $RUNS calls each, on a loaded machine:

| GET …/audit/entitlements | clients (changes) | body | median | worst |
|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")
MD

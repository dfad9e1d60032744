#!/usr/bin/env bash
# Audit benchmark: load 1,000,000 events into one application of a scratch database, then time
# `latchkey audit export` (events/s, peak RSS), `latchkey audit verify`, filtered pages of
# GET /config/{appId}/audit (median and p95 over 50 calls each) and the NDJSON stream over HTTP
# (with the server's peak RSS). Prints a Markdown summary; bench/README.md keeps the last one.
#
#   bench/audit/run.sh                      # PG_URL=postgres://postgres@127.0.0.1:5432
#   EVENTS=100000 bench/audit/run.sh        # a quicker run
#
# Needs: PostgreSQL reachable at $PG_URL (a superuser: it creates and drops the database
# $BENCH_DB), curl, jq, GNU time (/usr/bin/time). Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-lk_bench_audit}
EVENTS=${EVENTS:-1000000}
PORT=${PORT:-18089}
RUNS=${RUNS:-50}
WORK=$(mktemp -d)
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --quiet --bin latchkey --example audit_bench_seed
LK=target/release/latchkey

psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
export DATABASE_URL="$PG_URL/$BENCH_DB"
export RUST_LOG=warn
$LK migrate >/dev/null
$LK apps create --name bench >"$WORK/app.json"
APP=$(jq -r .app_id "$WORK/app.json")
OWNER_ID=$(jq -r .owner._id "$WORK/app.json")
OWNER_SECRET=$(jq -r .owner._secret "$WORK/app.json")

echo "seeding $EVENTS events into $APP ..." >&2
SEED_START=$(date +%s.%N)
CLIENT=$(target/release/examples/audit_bench_seed "$APP" "$EVENTS" 1000)
SEED_S=$(echo "$(date +%s.%N) - $SEED_START" | bc)
TOTAL=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM audit_events WHERE app_id = '$APP'")
DB_SIZE=$(psql -tA "$DATABASE_URL" -c "SELECT pg_size_pretty(pg_total_relation_size('audit_events'))")

# "elapsed seconds;max RSS KiB" of a /usr/bin/time -v report
time_of() {
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]}
              /Maximum resident set size/ {r=$2} END {printf "%.2f;%d", s, r}' "$1"
}

declare -a ROWS
run_cli() { # label, then the latchkey arguments; output is counted, not kept
  local label=$1; shift
  /usr/bin/time -v -o "$WORK/time.txt" $LK "$@" >"$WORK/out" || true
  local lines; lines=$(wc -l <"$WORK/out")
  IFS=';' read -r secs rss <<<"$(time_of "$WORK/time.txt")"
  local rate; rate=$(echo "$TOTAL / $secs" | bc)
  ROWS+=("| \`$label\` | $lines lines | ${secs} s | $rate events/s | $((rss / 1024)) MiB |")
}
run_cli "audit export --format ndjson" audit export --app "$APP" --format ndjson
run_cli "audit export --format csv" audit export --app "$APP" --format csv
run_cli "audit export --format json" audit export --app "$APP" --format json
run_cli "audit verify" audit verify --app "$APP"
VERIFY=$(cat "$WORK/out")

LATCHKEY_LISTEN=127.0.0.1:$PORT LATCHKEY_WORKERS=2 $LK serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
AUTH="$OWNER_ID:$OWNER_SECRET"
BASE="http://127.0.0.1:$PORT/config/$APP/audit"

# A one-day window in the middle of the history.
MID=$(psql -tA "$DATABASE_URL" -c "SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM audit_events WHERE app_id = '$APP' AND seq = $((TOTAL / 2))")
MID_END=$(psql -tA "$DATABASE_URL" -c "SELECT to_char((timestamptz '$MID' + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
MONTH_END=$(psql -tA "$DATABASE_URL" -c "SELECT to_char((timestamptz '$MID' + interval '31 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
DEEP=$(curl -sf -u "$AUTH" "$BASE?order=oldest&limit=1000&since=$MID" | jq -r '.next | capture("cursor=(?<c>.*)").c')

# "median ms | p95 ms" of the times (seconds, one a line) in $WORK/times
median_p95() {
  sort -n "$WORK/times" | awk '{a[NR]=$1} END {printf "%.1f ms | %.1f ms", a[int((NR+1)/2)]*1000, a[int(NR*0.95)]*1000}'
}

declare -a PAGES
# 3 warm-up calls of a URL, then $RUNS timed ones into $WORK/times (the last body in page.json)
timed_calls() {
  for _ in 1 2 3; do curl -sf -o /dev/null -u "$AUTH" "$1"; done
  : >"$WORK/times"
  for _ in $(seq 1 "$RUNS"); do
    curl -sf -o "$WORK/page.json" -w '%{time_total}\n' -u "$AUTH" "$1" >>"$WORK/times"
  done
}
page() { # label, query
  local label=$1 query=$2
  timed_calls "$BASE?$query"
  local n; n=$(jq '.events | length' "$WORK/page.json")
  PAGES+=("| $label | \`$query\` | $n | $(median_p95) |")
}
page "newest page" "limit=100"
page "one client" "client=$CLIENT"
page "actor" "actor=operator"
page "action" "action=client.secret_rotate"
page "feature (frequent)" "feature=direct_access"
page "feature (rare)" "feature=owner"
page "feature never changed" "feature=metadata"
page "one-day window" "since=$MID&until=$MID_END"
page "31-day window" "since=$MID&until=$MONTH_END"
page "window + client" "since=$MID&client=$CLIENT&order=oldest"
page "window + feature + actor" "since=$MID&until=$MID_END&feature=access_issuer&actor=operator"
page "client + frequent feature" "client=$CLIENT&feature=direct_access"
page "worst case: empty intersection of two large sets" "action=client.secret_rotate&feature=direct_access"
page "deep cursor, 1000 rows" "order=oldest&limit=1000&cursor=$DEEP"

# Audit evidence (docs/audit.md): proofs over the whole tree, and signing a checkpoint of it.
declare -a PROOFS
proof() { # label, path under $BASE
  local label=$1 path=$2
  timed_calls "$BASE/$path"
  PROOFS+=("| $label | \`$path\` | $(median_p95) |")
}
proof "inclusion, first event" "proof/inclusion?revision=1&size=$TOTAL"
proof "inclusion, middle event" "proof/inclusion?revision=$((TOTAL / 2 + 1))&size=$TOTAL"
proof "consistency, a third to all" "proof/consistency?from=$((TOTAL / 3))&to=$TOTAL"
CP_START=$(date +%s.%N)
LATCHKEY_SEALING_KEY=$($LK keys generate) $LK audit checkpoint >/dev/null
CP_S=$(echo "$(date +%s.%N) - $CP_START" | bc)

# The whole log over HTTP, and the server's peak memory after it.
STREAM_START=$(date +%s.%N)
STREAM_LINES=$(curl -sf -u "$AUTH" -H 'Accept: application/x-ndjson' "$BASE" | wc -l)
STREAM_S=$(echo "$(date +%s.%N) - $STREAM_START" | bc)
SERVER_RSS=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER_PID/status")

cat <<OUT
### Audit benchmark ($(date -u +%Y-%m-%d))

Machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM (shared with other work),
$(psql -tA "$DATABASE_URL" -c 'SHOW server_version' | cut -d' ' -f1) PostgreSQL on the same machine, release build.
Data: $TOTAL events in one application ($EVENTS seeded in ${SEED_S%.*} s; audit_events with indexes: $DB_SIZE).

| command | output | time | throughput | peak RSS |
|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")

\`audit verify\` said: \`$(echo "$VERIFY" | jq -c '{status, count, head_seq}')\`

Filtered pages of \`GET /config/{appId}/audit\` (owner credentials, $RUNS calls each after 3 warm-ups, curl total time):

| filter | query | events | median | p95 |
|---|---|---|---|---|
$(printf '%s\n' "${PAGES[@]}")

Proofs over the tree of all $TOTAL events ($RUNS calls each after 3 warm-ups):

| proof | path | median | p95 |
|---|---|---|---|
$(printf '%s\n' "${PROOFS[@]}")

Signing a checkpoint of the whole tree (\`latchkey audit checkpoint\`, process start included): ${CP_S:0:5} s.

Whole log as NDJSON over HTTP: $STREAM_LINES lines in ${STREAM_S:0:5} s ($(echo "$STREAM_LINES / $STREAM_S" | bc) events/s); server peak RSS $SERVER_RSS MiB.
OUT

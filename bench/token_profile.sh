#!/usr/bin/env bash
# Instructions per request of scenario (i) (a token for a warm client, client_secret_basic)
# against the HTTP floor (h), counted by callgrind: a count of instructions, not a time, so it
# means the same on a loaded machine (bench/README.md, "Where a token's time goes").
#
#   bench/token_profile.sh                 # uses target/release/latchkey (bench/run builds it)
#   PROFILE_SECONDS=20 bench/token_profile.sh
#   PROFILE_BIN=/path/to/another/latchkey bench/token_profile.sh   # e.g. an older build, to compare
#
# Starts one server under valgrind on a scratch database, then counts (one callgrind dump
# each): an idle stretch (the background tasks' cost per second, subtracted below), GET /healthz
# and POST /oauth/{app}/token, each for PROFILE_SECONDS with wrk (1 thread, 2 connections).
# Prints Ir per request of each and their ratio, and the functions of the token requests that
# cost the most (callgrind_annotate, inclusive). Stops what it started and drops its database.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
export BENCH_DIR
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=${PROFILE_DB:-latchkey_token_profile}
SECONDS_EACH=${PROFILE_SECONDS:-10}
BIN=${PROFILE_BIN:-$ROOT/target/release/latchkey}
DB_URL="$PG_URL/$DB"

die() { echo "bench/token_profile.sh: $*" >&2; exit 1; }
for tool in valgrind callgrind_control callgrind_annotate wrk curl jq psql base64; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -x $BIN ]] || die "$BIN missing: cargo build --release"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-token-profile.XXXXXX")
SERVER_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ $rc -ne 0 ]]; then echo "bench/token_profile.sh: failed; logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$PG_URL/postgres" \
  -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
DATABASE_URL="$DB_URL" "$BIN" migrate >"$WORK/migrate.log" 2>&1 || die "migrate: $(cat "$WORK/migrate.log")"

TOKEN="profile-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# One worker and no sink delivery: fewer threads for valgrind to serialise, nothing else running.
env DATABASE_URL="$DB_URL" LATCHKEY_LISTEN="127.0.0.1:$PORT" LATCHKEY_OPERATOR_TOKEN="$TOKEN" \
  LATCHKEY_AUTH_FAILURE_LIMIT=0 LATCHKEY_SEALING_KEY="$(head -c 32 /dev/urandom | base64 -w0)" \
  LATCHKEY_WORKERS=1 LATCHKEY_SINK_DELIVERY=false RUST_LOG=warn \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" --dump-instr=no \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
  kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(tail -5 "$WORK/server.log")"
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || die "server not ready after 5 minutes"
BASE="http://127.0.0.1:$PORT"

api() { # api METHOD PATH AUTH BODY
  curl -sSf -X "$1" -H "Authorization: $3" -H 'Content-Type: application/json' ${4:+--data "$4"} "$BASE$2"
}
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }
app_json=$(api POST /apps "Bearer $TOKEN" '{"name":"profile"}')
APP=$(jq -r .app_id <<<"$app_json")
OWNER_AUTH=$(basic "$(jq -r .owner._id <<<"$app_json")" "$(jq -r .owner._secret <<<"$app_json")")
client=$(api POST "/config/$APP/clients" "$OWNER_AUTH" \
  '{"name":"token-client","features":["direct_access","direct_read_access"]}')
TOKEN_AUTH=$(basic "$(jq -r ._id <<<"$client")" "$(jq -r ._secret <<<"$client")")
printf 'grant_type=client_credentials' >"$WORK/token.form"

# wrk_run NAME URL [VAR=value…]: PROFILE_SECONDS of wrk; prints the requests answered.
wrk_run() {
  local name=$1 url=$2
  shift 2
  env "$@" BENCH_THREADS=1 BENCH_WRK_OUT="$WORK/$name.wrk" \
    wrk -t 1 -c 2 -d "${SECONDS_EACH}s" --timeout 30s -s "$BENCH_DIR/lua/request.lua" "$url" \
    >"$WORK/$name.txt" 2>&1 || die "wrk $name: $(cat "$WORK/$name.txt")"
  grep -q '^non2xx=0$' "$WORK/$name.wrk" || die "$name: errors: $(cat "$WORK/$name.wrk")"
  sed -n 's/^requests=//p' "$WORK/$name.wrk"
}
# dump: ends the current part; its instructions go to the newest cg.out.* file, whose totals
# it leaves in DUMP_IR. Called directly, never in $(...): the count of dumps must survive it.
DUMPS=0
DUMP_IR=0
dump() {
  callgrind_control -d "$SERVER_PID" >/dev/null
  DUMPS=$((DUMPS + 1))
  local f="$WORK/cg.out.$DUMPS"
  # Complete once its last line (totals) is written: a file that merely exists may be half-written.
  for _ in $(seq 1 300); do grep -q '^totals:' "$f" 2>/dev/null && break; sleep 0.1; done
  grep -q '^totals:' "$f" 2>/dev/null || die "no complete callgrind dump $f"
  DUMP_IR=$(awk '/^totals:/ { print $2; exit }' "$f") # "summary:" can be 0 in a dump
}
# Warm everything (the key set is made and opened, the secret proven once): not counted.
wrk_run warm_token "$BASE/oauth/$APP/token" BENCH_AUTH="$TOKEN_AUTH" BENCH_METHOD=POST \
  BENCH_CT=application/x-www-form-urlencoded BENCH_BODY_FILE="$WORK/token.form" >/dev/null
wrk_run warm_floor "$BASE/healthz" BENCH_AUTH="" >/dev/null
dump
t0=$(date +%s.%N)
sleep "$SECONDS_EACH"
dump
idle_ir=$DUMP_IR
idle_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
t0=$(date +%s.%N)
floor_n=$(wrk_run floor "$BASE/healthz" BENCH_AUTH="")
dump
floor_ir=$DUMP_IR
floor_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
t0=$(date +%s.%N)
token_n=$(wrk_run token "$BASE/oauth/$APP/token" BENCH_AUTH="$TOKEN_AUTH" BENCH_METHOD=POST \
  BENCH_CT=application/x-www-form-urlencoded BENCH_BODY_FILE="$WORK/token.form")
dump
token_ir=$DUMP_IR
token_file="$WORK/cg.out.$DUMPS"
token_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')

awk -v ii="$idle_ir" -v is="$idle_secs" -v fi="$floor_ir" -v fn="$floor_n" -v fs="$floor_secs" \
  -v ti="$token_ir" -v tn="$token_n" -v ts="$token_secs" 'BEGIN {
    bg = ii / is
    f = (fi - bg * fs) / fn; t = (ti - bg * ts) / tn
    printf "idle: %.0f Ir/s of background tasks (subtracted)\n", bg
    printf "floor GET /healthz: %d requests, %.0f Ir/request\n", fn, f
    printf "token POST /oauth/{app}/token: %d requests, %.0f Ir/request\n", tn, t
    printf "RESULT floor_ir=%.0f token_ir=%.0f ratio=%.2f\n", f, t, t / f
  }'
echo "Costliest functions of the token part (inclusive Ir, whole part):"
callgrind_annotate --inclusive=yes --threshold=99 "$token_file" 2>/dev/null |
  sed -n '/^Ir/,$p' | sed -n '1,40p'

#!/usr/bin/env bash
# Instructions per request of the hot-path scenarios, counted by valgrind's callgrind on the
# release server: exact and repeatable, unlike wall-clock figures on a shared machine
# (bench/README.md, "Instruction counts"). For each scenario it switches instrumentation on,
# sends exactly N requests over one keep-alive connection, switches it off and dumps, then
# prints Ir per request and the top functions (inclusive) of each dump.
#
#   bench/callgrind.sh                  # N=2000 per scenario, release binary already built
#   CG_REQUESTS=500 bench/callgrind.sh
#
# Needs valgrind, curl, jq, python3, psql (superuser at CG_PG_URL, like bench/run), and
# `cargo build --release` (for line-level annotation, with
# CARGO_PROFILE_RELEASE_DEBUG=line-tables-only). Scenario (f) here lists the 100 clients of
# one application among 3,000 (bench/run's million rows change the database's work, not the
# server's instructions); scenario (b) PUTs one client 2,000 times, its features toggled so that
# each PUT is a change. valgrind runs SHA-256 without the CPU's SHA extensions, so the hashes of
# the warm Basic check weigh several times what they cost natively (bench/README.md,
# "4 December 2026").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CG_BIN:-$ROOT/target/release/latchkey}
PG_URL=${CG_PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=${CG_DB:-latchkey_callgrind}
N=${CG_REQUESTS:-2000}
OUT=${CG_OUT:-$(mktemp -d /tmp/latchkey-callgrind.XXXXXX)}
mkdir -p "$OUT"
SCENARIOS=${CG_SCENARIOS:-h a a_bearer e f b}
DB_URL="$PG_URL/$DB"
ADMIN_URL="$PG_URL/postgres"

die() { echo "bench/callgrind.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }
for tool in valgrind callgrind_control callgrind_annotate curl jq python3 psql; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
[[ -x $BIN ]] || die "no release binary at $BIN: cargo build --release"

PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "scratch database $DB; results in $OUT"
psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
  -c "CREATE DATABASE $DB" >/dev/null
DATABASE_URL="$DB_URL" "$BIN" migrate >"$OUT/migrate.log" 2>&1 || die "migrate failed"

TOKEN="cg-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# As bench/run's server (defaults, no failure limit), instrumentation off until asked.
env DATABASE_URL="$DB_URL" LATCHKEY_LISTEN="127.0.0.1:$PORT" LATCHKEY_OPERATOR_TOKEN="$TOKEN" \
  LATCHKEY_AUTH_FAILURE_LIMIT=0 LATCHKEY_SEALING_KEY="$(head -c 32 /dev/urandom | base64 -w0)" \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.%p" \
  "$BIN" serve >"$OUT/server.log" 2>&1 &
PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 600); do
  curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || die "server exited: $(tail -3 "$OUT/server.log")"
  sleep 0.2
done
curl -sf "$BASE/readyz" >/dev/null || die "server not ready"

api() { # METHOD PATH AUTH BODY
  curl -sfS -X "$1" -H "Authorization: $3" -H 'Content-Type: application/json' \
    ${4:+--data "$4"} "$BASE$2"
}
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

say "data (as bench/run)"
app_json=$(api POST /apps "Bearer $TOKEN" '{"name":"bench"}')
APP=$(jq -r .app_id <<<"$app_json")
OWNER_AUTH=$(basic "$(jq -r .owner._id <<<"$app_json")" "$(jq -r .owner._secret <<<"$app_json")")
TARGET=$(api POST "/config/$APP/clients" "$OWNER_AUTH" \
  '{"name":"get-target","features":["direct_read_access"]}' | jq -r ._id)
api POST "/config/$APP/entityTypes" "$OWNER_AUTH" '{"name":"user","attr_defs":[
  {"name":"email","type":"string"},{"name":"givenName","type":"string"},
  {"name":"familyName","type":"string"},{"name":"birthday","type":"date"},
  {"name":"gender","type":"string"},
  {"name":"optIns","type":"object","attr_defs":[{"name":"newsletter","type":"boolean"}]},
  {"name":"interests","type":"plural","attr_defs":[{"name":"name","type":"string"}]}]}' >/dev/null
esp=$(api POST "/config/$APP/clients" "$OWNER_AUTH" \
  '{"name":"Email Service Provider","features":["direct_access"]}')
api PUT "/config/$APP/clients/$(jq -r ._id <<<"$esp")/accessSchemas/user/read" "$OWNER_AUTH" \
  '{"attributes":["email","givenName","familyName","optIns"]}' >/dev/null
CHECK=$(jq -cn --arg id "$(jq -r ._id <<<"$esp")" --arg s "$(jq -r ._secret <<<"$esp")" \
  '{clientId: $id, clientSecret: $s, sourceIp: "203.0.113.7", entityType: "user",
    access: "read", record: "any", attributes: ["email", "givenName", "optIns.newsletter", "birthday"]}')
# (b): PUTs of one client, its features toggled so that each one is a change (an UPDATE, an
# audit event, a notification, the snapshot entry replaced).
PUT_TARGET=$(api POST "/config/$APP/clients" "$OWNER_AUTH" '{"name":"put-target"}' | jq -r ._id)
f_json=$(api POST /apps "Bearer $TOKEN" '{"name":"bench-f-listed"}')
F_APP=$(jq -r .app_id <<<"$f_json")
F_AUTH=$(basic "$(jq -r .owner._id <<<"$f_json")" "$(jq -r .owner._secret <<<"$f_json")")
# Its other 99 clients among 30 applications of 100, with bench/run's generator.
PHC=$(psql -X -q -A -t "$DB_URL" -c "SELECT phc FROM client_secrets WHERE client_id = '$TARGET'")
psql -X -q -v ON_ERROR_STOP=1 -v apps=30 -v per_app=100 -v listed_app="$F_APP" -v phc="$PHC" \
  -f "$ROOT/bench/sql/f_many_apps.sql" "$DB_URL" >"$OUT/f_data.log" 2>&1 || die "(f) data"
[[ $(api GET "/config/$F_APP/clients" "$F_AUTH" | jq length) == 100 ]] || die "(f) listing is not 100 clients"

url_of() {
  case $1 in
    h) echo "GET /healthz" ;;
    a) echo "GET /config/$APP/clients/$TARGET" ;;
    a_bearer) echo "GET /config/$APP/clients/$TARGET" ;;
    e) echo "POST /config/$APP/access/check" ;;
    f) echo "GET /config/$F_APP/clients" ;;
    b) echo "PUT /config/$APP/clients/$PUT_TARGET" ;;
  esac
}
auth_of() {
  case $1 in
    a | e | b) echo "$OWNER_AUTH" ;;
    a_bearer) echo "Bearer $TOKEN" ;;
    f) echo "$F_AUTH" ;;
    *) echo "" ;;
  esac
}
# send N METHOD PATH AUTH BODY [BODY2]: N requests over one keep-alive connection, alternating
# BODY and BODY2 when both are given; each must be 200.
send() {
  python3 - "$PORT" "$@" <<'PY'
import http.client, sys
port, n, method, path, auth, body = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:7]
bodies = [body] + sys.argv[7:8]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
headers = {"Content-Type": "application/json"}
if auth:
    headers["Authorization"] = auth
for i in range(n):
    body = bodies[i % len(bodies)]
    c.request(method, path, body=body.encode() if body else None, headers=headers)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"{method} {path}: {r.status}")
PY
}

for s in $SCENARIOS; do
  read -r method path <<<"$(url_of "$s")"
  body="" body2=()
  [[ $s == e ]] && body=$CHECK
  if [[ $s == b ]]; then
    body='{"name":"put-target","features":["direct_access"]}'
    body2=('{"name":"put-target","features":["direct_read_access"]}')
  fi
  send 50 "$method" "$path" "$(auth_of "$s")" "$body" "${body2[@]}" # warm: caches, snapshot, pool
  callgrind_control -z "$PID" >/dev/null
  callgrind_control -i on "$PID" >/dev/null
  send "$N" "$method" "$path" "$(auth_of "$s")" "$body" "${body2[@]}"
  callgrind_control -i off "$PID" >/dev/null
  callgrind_control -d "$s" "$PID" >/dev/null
done

# The dumps: callgrind.<pid>.<n>, in scenario order.
echo "| scenario | request | Ir per request |"
echo "|---|---|---:|"
i=0
for s in $SCENARIOS; do
  i=$((i + 1))
  f="$OUT/callgrind.$PID.$i"
  [[ -f $f ]] || die "no dump $f"
  # "totals:" is the dump's count; "summary:" (written first) is 0 when instrumentation was
  # switched on and off by callgrind_control.
  total=$(awk '/^totals:/ { print $2; exit }' "$f")
  printf '| %s | %s | %s |\n' "$s" "$(url_of "$s" | sed "s/$APP/{app}/; s/$F_APP/{app}/; s/$PUT_TARGET/{id}/; s/$TARGET/{id}/")" \
    "$(awk -v t="$total" -v n="$N" 'BEGIN { printf "%.0f", t / n }')"
  # Written whole first: `| head` would end callgrind_annotate with SIGPIPE, which pipefail
  # turns into the script's failure.
  callgrind_annotate --inclusive=yes "$f" >"$OUT/$s.annotate.txt" 2>/dev/null || true
  head -60 "$OUT/$s.annotate.txt" >"$OUT/$s.top.txt"
done
echo
echo "Top functions (inclusive) per scenario: $OUT/<scenario>.top.txt; dumps: $OUT/callgrind.$PID.*"

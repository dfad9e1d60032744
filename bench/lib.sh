# Helpers shared by bench/run and bench/compare (sourced, not run).
#
# The caller defines die, and sets WORK (a scratch folder), PIDS (an array), BIN (the server
# binary), DB_URL, ADMIN_URL, DB, KEEP_DB, TOKEN (the operator token) and SEALING_KEY; PORT
# names the server that `api` talks to.

# The exit trap: stops every server started, drops the scratch database (unless KEEP_DB=1), and
# keeps the logs in WORK when the run failed.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    # The server drains for up to its shutdown timeout; do not wait forever.
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $KEEP_DB != 1 ]]; then
    psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ $rc -ne 0 ]]; then
    echo "${0##*/}: failed (exit $rc); logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# start_server NAME [VAR=value…]: starts a server on a free port of 127.0.0.1 (the kernel picks
# it; BENCH_PORT pins the main one), sets SERVER_PID and SERVER_PORT, waits until it is ready.
start_server() {
  local name=$1 port=0
  shift
  [[ $name == main ]] && port=${BENCH_PORT:-0}
  env DATABASE_URL="$DB_URL" LATCHKEY_LISTEN="127.0.0.1:$port" \
    LATCHKEY_OPERATOR_TOKEN="$TOKEN" LATCHKEY_AUTH_FAILURE_LIMIT=0 \
    LATCHKEY_SEALING_KEY="$SEALING_KEY" "$@" \
    "$BIN" serve >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_PORT=""
  for _ in $(seq 1 150); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "server $name exited: $(tail -3 "$WORK/$name.log")"
    if [[ -z $SERVER_PORT ]]; then
      # The log line "latchkey listening port=N" (colours stripped).
      SERVER_PORT=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/$name.log" |
        sed -n 's/.*latchkey listening.*port=\([0-9][0-9]*\).*/\1/p' | head -1)
    fi
    if [[ -n $SERVER_PORT ]] && curl -sf "http://127.0.0.1:$SERVER_PORT/readyz" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  die "server $name not ready after 30 s"
}

# api METHOD PATH AUTH BODY EXPECTED_STATUS: prints the response body; dies on another status.
api() {
  local method=$1 path=$2 auth=$3 body=$4 expected=$5 status
  status=$(curl -sS -o "$WORK/api.out" -w '%{http_code}' -X "$method" \
    -H "Authorization: $auth" -H 'Content-Type: application/json' \
    ${body:+--data "$body"} "http://127.0.0.1:$PORT$path")
  [[ $status == "$expected" ]] || die "$method $path: $status (expected $expected): $(cat "$WORK/api.out")"
  cat "$WORK/api.out"
}

basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

# The two arms of alternating pair ROUND, in the order that round runs them (A B, then B A, …),
# so that neither arm always runs first: arms ROUND A B
arms() { (( $1 % 2 )) && echo "$2 $3" || echo "$3 $2"; }
# "x/y, x/y, …" from a pairs list on stdin: columns X and Y (1-based) of each line that has them,
# divided by DIVISOR, in printf FORMAT: pair_list FORMAT X Y [DIVISOR]
pair_list() {
  awk -v f="$1" -v x="$2" -v y="$3" -v d="${4:-1}" \
    'NF >= x && NF >= y { printf "%s" f "/" f, (n++ ? ", " : ""), $x / d, $y / d }'
}

# make_clients APP OWNER_AUTH N: the client (a) reads (TARGET) and the N clients (b) changes,
# listed as "client_id name" lines in WORK/put_clients.txt (bench/lua/put_toggle.lua).
make_clients() {
  local app=$1 owner=$2 n=$3 id i
  TARGET=$(api POST "/config/$app/clients" "$owner" \
    '{"name":"get-target","features":["direct_read_access"]}' 201 | jq -r ._id)
  : >"$WORK/put_clients.txt"
  for i in $(seq 1 "$n"); do
    id=$(api POST "/config/$app/clients" "$owner" \
      "{\"name\":\"put-$i\",\"features\":[\"direct_read_access\"]}" 201 | jq -r ._id)
    echo "$id put-$i" >>"$WORK/put_clients.txt"
  done
}

# make_access_check APP OWNER_AUTH: (e)'s data, the seed's `user` type and an integration with a
# read schema (ESP_ID, ESP_SECRET), and the question in WORK/access_check.json; dies unless the
# answer is the expected one (bench/access_check.md).
make_access_check() {
  local app=$1 owner=$2 esp expected answer
  api POST "/config/$app/entityTypes" "$owner" '{"name":"user","attr_defs":[
    {"name":"email","type":"string"},{"name":"givenName","type":"string"},
    {"name":"familyName","type":"string"},{"name":"birthday","type":"date"},
    {"name":"gender","type":"string"},
    {"name":"optIns","type":"object","attr_defs":[{"name":"newsletter","type":"boolean"}]},
    {"name":"interests","type":"plural","attr_defs":[{"name":"name","type":"string"}]}]}' 201 >/dev/null
  esp=$(api POST "/config/$app/clients" "$owner" \
    '{"name":"Email Service Provider","features":["direct_access"]}' 201)
  ESP_ID=$(jq -r ._id <<<"$esp")
  ESP_SECRET=$(jq -r ._secret <<<"$esp")
  api PUT "/config/$app/clients/$ESP_ID/accessSchemas/user/read" "$owner" \
    '{"attributes":["email","givenName","familyName","optIns"]}' 200 >/dev/null
  cat >"$WORK/access_check.json" <<JSON
{"clientId": "$ESP_ID", "clientSecret": "$ESP_SECRET", "sourceIp": "203.0.113.7",
 "entityType": "user", "access": "read", "record": "any",
 "attributes": ["email", "givenName", "optIns.newsletter", "birthday"]}
JSON
  expected='{"allowed":false,"reason":"attribute_not_permitted","permitted":["email","givenName","optIns.newsletter"],"denied":["birthday"],"updatesLastUpdated":true}'
  answer=$(api POST "/config/$app/access/check" "$owner" "$(cat "$WORK/access_check.json")" 200)
  # The answer also names the revision it was made at.
  [[ "$(jq -cS 'del(.revision)' <<<"$answer")" == "$(jq -cS . <<<"$expected")" ]] || die "access check answered $answer"
}

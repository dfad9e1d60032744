#!/usr/bin/env bash
# Sinks against real receivers (issue #21, docs/streaming.md):
#  * rsyslog from Debian's packages (imtcp, octet-counted framing, to a file), plain and TLS
#    (RFC 5425, rsyslog-openssl, a certificate signed by a CA made here);
#  * a webhook receiver verifying every signature with the `standardwebhooks` package (PyPI);
#  * a Splunk HEC stand-in checking the exact request shape (no Splunk here).
# A write burst runs while rsyslog and the webhook receiver are down (about 20 s); then they
# come back, Latchkey is killed with SIGKILL in the middle of the backlog and restarted, and
# more writes follow. Every event must arrive at every receiver at least once, in order per
# application (tests/sinks/receivers.py check). Checkpoints are signed every second meanwhile:
# every one must arrive at every receiver too, after the event of its size, and the webhook
# receiver verifies each one's Ed25519 signature with the key from GET /audit/keys.
#
# Needs DATABASE_URL (a role that may create databases), python3, cargo; installs rsyslog
# (apt-get) and the Python package (venv under target/sinks-venv) when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
if ! [ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so ] || ! command -v openssl >/dev/null \
   || { ! command -v rsyslogd >/dev/null && ! [ -x /usr/sbin/rsyslogd ]; }; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog rsyslog-openssl openssl >/dev/null
fi
rsyslogd=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
. tests/support/common.sh
venv=target/sinks-venv
python_venv "$venv" 'import standardwebhooks, cryptography' "standardwebhooks==1.1.0" \
  "cryptography>=42,<47"
py="$PWD/$venv/bin/python"

cargo build --quiet --bin latchkey
bin="$PWD/target/debug/latchkey"
export LATCHKEY_BIN="$bin"
work="$(mktemp -d)"
db="lk_sinks_$$"
own_database "$db" sinks
base="$own_db_base"
export LATCHKEY_SINK_POLL_SECS=1
export LATCHKEY_CHECKPOINT_SECS=1
port=$(free_port); syslog_port=$(free_port); tls_port=$(free_port); hook_port=$(free_port); hec_port=$(free_port)
export LATCHKEY_LISTEN="127.0.0.1:$port"
url="http://127.0.0.1:$port"

server_pid=""; rsyslog_pid=""; hook_pid=""; hec_pid=""
cleanup() {
  for p in "$server_pid" "$rsyslog_pid" "$hook_pid" "$hec_pid"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  psql -q "$base" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A CA and the receiver's certificate (for 127.0.0.1), for syslog over TLS.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 2 \
  -subj /CN=latchkey-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/server.key" -out "$work/server.csr" \
  -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -out "$work/server.pem" -days 2 -extfile "$work/ext.cnf" 2>/dev/null

# rsyslog in the foreground with a configuration of its own: TCP and TLS in, the raw message to
# a file each.
mkdir -p "$work/rsyslog"
cat > "$work/rsyslog.conf" <<EOF
global(workDirectory="$work/rsyslog" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="latchkey") {
  action(type="omfile" file="$work/syslog.log" template="raw")
}
ruleset(name="latchkey-tls") {
  action(type="omfile" file="$work/syslog-tls.log" template="raw")
}
input(type="imtcp" port="$syslog_port" ruleset="latchkey")
input(type="imtcp" port="$tls_port" ruleset="latchkey-tls" streamDriver.name="ossl"
      streamDriver.mode="1" streamDriver.authMode="anon" streamDriver.CAFile="$work/ca.pem"
      streamDriver.CertFile="$work/server.pem" streamDriver.KeyFile="$work/server.key")
EOF
start_rsyslog() {
  "$rsyslogd" -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" >>"$work/rsyslog.out" 2>&1 &
  rsyslog_pid=$!
}
start_hook() {
  DELAY_MS=20 WEBHOOK_SECRET="$hook_secret" LATCHKEY_URL="$url" "$py" tests/sinks/receivers.py webhook "$hook_port" "$work/webhook.ndjson" 2>>"$work/receivers.err" &
  hook_pid=$!
}
start_server() {
  "$bin" serve >>"$work/server.out" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "latchkey did not start"; cat "$work/server.out"; exit 1
}
field() { python3 -c "import json,sys; print(eval('json.loads(sys.argv[1])' + sys.argv[2]))" "$1" "$2"; }

"$bin" migrate >/dev/null
shop=$(field "$("$bin" apps create --name shop)" "['app_id']")
blog=$(field "$("$bin" apps create --name blog)" "['app_id']")
hook_secret=$(field "$("$bin" sinks add --name hook --kind webhook --url "http://127.0.0.1:$hook_port/hook" --from-beginning)" "['secret']")
LATCHKEY_SINK_TOKEN=hec-token-$$ "$bin" sinks add --name splunk --kind splunk_hec \
  --url "http://127.0.0.1:$hec_port/services/collector/event" --sourcetype latchkey:ci --batch 20 --from-beginning >/dev/null
"$bin" sinks add --name syslog --kind syslog --address "127.0.0.1:$syslog_port" --from-beginning >/dev/null
"$bin" sinks add --name syslog-tls --kind syslog --address "127.0.0.1:$tls_port" --tls \
  --ca-file "$work/ca.pem" --from-beginning >/dev/null

start_rsyslog
start_hook
HEC_TOKEN=hec-token-$$ HEC_SOURCETYPE=latchkey:ci "$py" tests/sinks/receivers.py hec "$hec_port" "$work/hec.ndjson" 2>>"$work/receivers.err" &
hec_pid=$!
start_server

written=0
writes() { # $1: how many clients to create in each application; $2: a label
  for _ in $(seq 1 "$1"); do
    written=$((written + 1))
    local i=$written
    for app in "$shop" "$blog"; do
      curl -fsS -o /dev/null -X POST "$url/config/$app/clients" \
        -H "Authorization: Bearer $LATCHKEY_OPERATOR_TOKEN" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$2-$i\"}"
    done
  done
}

writes 20 first
# Receivers down during a burst: writes go on at their own pace.
kill "$rsyslog_pid" "$hook_pid"; wait "$rsyslog_pid" "$hook_pid" 2>/dev/null || true
burst_start=$(date +%s.%N)
writes 60 burst
while [ "$(python3 -c "import time; print(int(time.time() - $burst_start < 20))")" = 1 ]; do
  writes 5 idle
done
echo "receivers down for $(python3 -c "import time; print(round(time.time() - $burst_start, 1))") s during the burst"
start_rsyslog
start_hook
# Latchkey killed in the middle of the backlog (the webhook receiver takes 20 ms a request):
# once the receiver has taken a few events of it (the worker may still be backing off first).
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
before=$(lines "$work/webhook.ndjson")
deadline=$(( $(date +%s) + 90 ))
until [ "$(lines "$work/webhook.ndjson")" -ge $((before + 10)) ]; do
  if [ "$(date +%s)" -gt "$deadline" ]; then echo "no delivery after the receivers came back"; exit 1; fi
  sleep 0.1
done
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true
echo "latchkey killed (SIGKILL) mid-delivery, $(( $(lines "$work/webhook.ndjson") - before )) events into the backlog; restarting"
start_server
writes 10 after

# Applications whose log has grown past their newest signed checkpoint (the task signs every
# second), and for a sink's `show`, its applications whose newest checkpoint it has not delivered.
unsigned() {
  psql -At "$DATABASE_URL" -c "SELECT count(*) FROM audit_heads h WHERE h.seq >
    coalesce((SELECT max(c.tree_size) FROM audit_checkpoints c WHERE c.app_id = h.app_id), 0)"
}
checkpoints_owed() {
  python3 -c 'import json, sys
latest = dict(l.split() for l in sys.argv[2].splitlines() if l.strip())
print(sum(int(latest.get(c["app_id"], 0)) > c["delivered_checkpoint"] for c in json.loads(sys.argv[1])["cursors"]))' \
    "$1" "$(psql -At -F ' ' "$DATABASE_URL" -c "SELECT app_id, max(tree_size) FROM audit_checkpoints GROUP BY app_id")"
}

# Wait until every sink has delivered everything, events and checkpoints (at most 3 minutes).
deadline=$(( $(date +%s) + 180 ))
while :; do
  lags="$(unsigned)"
  for s in hook splunk syslog syslog-tls; do
    shown=$("$bin" sinks show "$s")
    if [ "$(field "$shown" "['paused']")" = True ]; then
      echo "sink $s paused: $(field "$shown" "['paused_reason']")"; cat "$work/receivers.err"; exit 1
    fi
    lags="$lags $(field "$shown" "['lag_events']")/$(checkpoints_owed "$shown")"
  done
  [ "$lags" = "0 0/0 0/0 0/0 0/0" ] && break
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "sinks still behind: $lags"; tail -20 "$work/server.out"; exit 1
  fi
  sleep 0.5
done
# rsyslog writes its file asynchronously: stop it so everything is on disk.
kill "$rsyslog_pid"; wait "$rsyslog_pid" 2>/dev/null || true; rsyslog_pid=""

psql -At -F ' ' "$DATABASE_URL" -c \
  "SELECT app_id, seq, event_id FROM audit_events WHERE app_id IN ('$shop', '$blog') ORDER BY app_id, seq" \
  > "$work/expected.txt"
psql -At -F ' ' "$DATABASE_URL" -c \
  "SELECT app_id, tree_size, 'checkpoint:' || app_id || ':' || tree_size || ':' || encode(substring(root_hash from 1 for 8), 'hex')
     FROM audit_checkpoints WHERE app_id IN ('$shop', '$blog') ORDER BY app_id, tree_size" \
  > "$work/checkpoints.txt"
echo "$(wc -l < "$work/expected.txt") events written, $(wc -l < "$work/checkpoints.txt") checkpoints signed"
# (A broken pipe is expected there: Latchkey was killed while a receiver was answering.)
if grep -E "verification failed|webhook-id|wrong request shape" "$work/receivers.err"; then
  echo "a receiver refused a request"; exit 1
fi
"$py" tests/sinks/receivers.py check "$work/expected.txt" "$work/checkpoints.txt" "$work/webhook.ndjson" "$work/hec.ndjson" \
  "$work/syslog.log" "$work/syslog-tls.log"
echo "sinks: 4 passed, 0 failed"

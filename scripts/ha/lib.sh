# Shared by scripts/ha/*.sh: addresses, paths and helpers of the one-host HA set-up
# (docs/high-availability.md). Sourced, not run.

HA_DIR="${HA_DIR:-/tmp/latchkey-ha}"
ETCD_PORT=2479
ETCD_PEER_PORT=2480
PROXY_PORT=5440          # HAProxy: always the current primary
PROXY_STATS_PORT=7440
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
NODES=(pg1 pg2)
declare -A PG_PORT=([pg1]=5441 [pg2]=5442)
declare -A REST_PORT=([pg1]=8041 [pg2]=8042)
INSTANCES=(a b)
declare -A LK_PORT=([a]=18181 [b]=18182)
DB_URL="postgres://postgres@127.0.0.1:${PROXY_PORT}/latchkey"
OPERATOR_TOKEN_FILE="$HA_DIR/operator-token"

log() { printf '[ha %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s until it succeeds or time is up.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what: not within ${secs}s"
    sleep 0.2
  done
}

# ours PID PATTERN: PID runs and its command line contains PATTERN (a pid file left behind
# by a killed process may name another process by now: never signal that one).
ours() { [[ -n $1 && -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"; }

# alive PIDFILE PATTERN: the process of the pid file runs and is the one we started.
alive() { [[ -s $1 ]] && ours "$(cat "$1")" "$2"; }

# Patroni's REST answer for a node: `rest NODE PATH` succeeds on HTTP 200.
rest() { curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:${REST_PORT[$1]}$2" 2>/dev/null; }

# The node that is primary now (empty when none).
primary_node() {
  local n
  for n in "${NODES[@]}"; do
    if rest "$n" /primary; then echo "$n"; return 0; fi
  done
  return 1
}

# start_node NODE: starts the node's Patroni as the postgres user (PostgreSQL refuses root).
start_node() {
  local n=$1
  setpriv --reuid=postgres --regid=postgres --init-groups -- \
    /usr/bin/patroni "$HA_DIR/$n/patroni.yml" >>"$HA_DIR/$n/patroni.log" 2>&1 &
  echo $! >"$HA_DIR/$n/patroni.pid"
}

# The node's postmaster pid (from its data directory), if it runs.
postmaster_pid() {
  local f="$HA_DIR/$1/data/postmaster.pid" pid
  [[ -s $f ]] || return 1
  pid=$(head -1 "$f")
  ours "$pid" "$HA_DIR/$1/data" && echo "$pid"
}

# kill_node NODE: the machine of NODE dies: its Patroni and its PostgreSQL get SIGKILL, by pid.
kill_node() {
  local n=$1 pm kids
  pm=$(postmaster_pid "$n" || true)
  if alive "$HA_DIR/$n/patroni.pid" "$HA_DIR/$n/patroni.yml"; then
    kill -9 "$(cat "$HA_DIR/$n/patroni.pid")" 2>/dev/null || true
  fi
  if [[ -n $pm ]]; then
    kids=$(ps -o pid= --ppid "$pm" || true)
    kill -9 "$pm" $kids 2>/dev/null || true
  fi
}

# The cluster is whole: one primary and the other node a streaming replica (the synchronous
# standby too when synchronous mode is on).
cluster_whole() {
  local p r
  p=$(primary_node) || return 1
  for r in "${NODES[@]}"; do
    [[ $r == "$p" ]] && continue
    rest "$r" /replica || return 1
    if [[ $(cat "$HA_DIR/sync-mode") == on ]]; then rest "$r" /sync || return 1; fi
  done
}

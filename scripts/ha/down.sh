#!/usr/bin/env bash
# Stops what scripts/ha/up.sh started (by the pids it wrote) and removes its state. Bounded:
# at most about 30 s. HA_KEEP=1 keeps $HA_DIR (logs).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/ha/lib.sh
[[ -d $HA_DIR ]] || exit 0

# stop PIDFILE PATTERN SECONDS: SIGTERM, then SIGKILL when it is still there after SECONDS.
stop() {
  local f=$1 pattern=$2 secs=$3 pid
  alive "$f" "$pattern" || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null
  local deadline=$((SECONDS + secs))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

for i in "${INSTANCES[@]}"; do stop "$HA_DIR/latchkey-$i.pid" latchkey 5; done
stop "$HA_DIR/haproxy/haproxy.pid" "$HA_DIR/haproxy/haproxy.cfg" 3
# Patroni stops its PostgreSQL on SIGTERM; a node left behind gets the SIGKILL treatment.
for n in "${NODES[@]}"; do stop "$HA_DIR/$n/patroni.pid" "$HA_DIR/$n/patroni.yml" 15 & done
wait
for n in "${NODES[@]}"; do kill_node "$n"; done
stop "$HA_DIR/etcd/etcd.pid" "$HA_DIR/etcd/data" 3
[[ ${HA_KEEP:-0} == 1 ]] || rm -rf "$HA_DIR"
log "down"

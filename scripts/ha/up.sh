#!/usr/bin/env bash
# A highly available Latchkey on one machine (docs/high-availability.md): a single-node etcd,
# two Patroni-managed PostgreSQL 15 nodes with streaming replication, HAProxy sending
# connections to the current primary (Patroni's REST check), and two Latchkey instances on
# HAProxy's address. Bounded: every wait has a deadline (about 3 minutes in all at most).
#
#   HA_SYNC=on|off scripts/ha/up.sh    # synchronous_mode (default on)
#   scripts/ha/down.sh                 # stops everything (run it when done: it uses CPU)
#
# Runs as root (it starts PostgreSQL as the `postgres` user); state under $HA_DIR
# (/tmp/latchkey-ha). Ports: etcd 2479, HAProxy 5440 (stats 7440), PostgreSQL 5441/5442,
# Patroni REST 8041/8042, Latchkey 18181/18182.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/ha/lib.sh
SYNC="${HA_SYNC:-on}"
[[ $SYNC == on || $SYNC == off ]] || die "HA_SYNC must be on or off"

# Packages (Debian's): installed once; their own services are not started.
need=()
[[ -x /usr/bin/patroni ]] || need+=(patroni)
[[ -x /usr/bin/etcd ]] || need+=(etcd-server)
[[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
[[ -x $PG_BIN/postgres ]] || need+=(postgresql-15)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  timeout 300 apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
fi

bash scripts/ha/down.sh >/dev/null 2>&1 || true
mkdir -p "$HA_DIR"
echo "$SYNC" >"$HA_DIR/sync-mode"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$OPERATOR_TOKEN_FILE"

log "etcd on 127.0.0.1:$ETCD_PORT"
mkdir -p "$HA_DIR/etcd"
/usr/bin/etcd --name ha --data-dir "$HA_DIR/etcd/data" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "ha=http://127.0.0.1:$ETCD_PEER_PORT" >"$HA_DIR/etcd/etcd.log" 2>&1 &
echo $! >"$HA_DIR/etcd/etcd.pid"
wait_for 30 "etcd healthy" curl -fsS --max-time 1 "http://127.0.0.1:$ETCD_PORT/health"

sync_bool=$([[ $SYNC == on ]] && echo true || echo false)
for n in "${NODES[@]}"; do
  mkdir -p "$HA_DIR/$n"
  cat >"$HA_DIR/$n/patroni.yml" <<YAML
scope: latchkey-ha
name: $n
restapi:
  listen: 127.0.0.1:${REST_PORT[$n]}
  connect_address: 127.0.0.1:${REST_PORT[$n]}
etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
bootstrap:
  dcs:
    # The leader key lives 10 s: a dead primary is replaced about 10 s after it died.
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: $sync_bool
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        synchronous_commit: "on"
        max_connections: 100
        shared_buffers: 32MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: trust
postgresql:
  listen: 127.0.0.1:${PG_PORT[$n]}
  connect_address: 127.0.0.1:${PG_PORT[$n]}
  data_dir: $HA_DIR/$n/data
  bin_dir: $PG_BIN
  pgpass: $HA_DIR/$n/pgpass
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
    rewind:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: $HA_DIR/$n
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
YAML
  chown -R postgres:postgres "$HA_DIR/$n"
  chmod 700 "$HA_DIR/$n"
done

log "pg1: bootstrap as the first primary"
start_node pg1
wait_for 90 "pg1 primary" rest pg1 /primary
log "pg2: replica"
start_node pg2
wait_for 120 "pg2 streaming (synchronous mode $SYNC)" cluster_whole

log "HAProxy on 127.0.0.1:$PROXY_PORT"
mkdir -p "$HA_DIR/haproxy"
cat >"$HA_DIR/haproxy/haproxy.cfg" <<CFG
global
    maxconn 2000
defaults
    mode tcp
    timeout connect 1s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen primary
    bind 127.0.0.1:$PROXY_PORT
    # Only the node whose Patroni says it is the primary gets connections; when a node stops
    # being it, its connections are cut (so nobody keeps a session on a demoted node).
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
    server pg1 127.0.0.1:${PG_PORT[pg1]} maxconn 500 check port ${REST_PORT[pg1]}
    server pg2 127.0.0.1:${PG_PORT[pg2]} maxconn 500 check port ${REST_PORT[pg2]}
listen stats
    mode http
    bind 127.0.0.1:$PROXY_STATS_PORT
    stats enable
    stats uri /
CFG
/usr/sbin/haproxy -D -f "$HA_DIR/haproxy/haproxy.cfg" -p "$HA_DIR/haproxy/haproxy.pid"
# HAProxy counts every server up until its first checks fail: wait until several connections
# in a row (round robin) all reach the primary.
primary_only() {
  local i
  for i in 1 2 3 4 5 6; do
    [[ $(psql -qAt -h 127.0.0.1 -p "$PROXY_PORT" -U postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] || return 1
  done
}
wait_for 20 "HAProxy reaches only the primary" primary_only
psql -qAt -h 127.0.0.1 -p "$PROXY_PORT" -U postgres -c "CREATE DATABASE latchkey" >/dev/null

# Latchkey: the build of this checkout (debug unless LATCHKEY_BIN says otherwise).
LATCHKEY_BIN="${LATCHKEY_BIN:-target/debug/latchkey}"
if [[ $LATCHKEY_BIN == target/debug/latchkey ]]; then
  timeout 1200 cargo build -q --bin latchkey
fi
export DATABASE_URL="$DB_URL"
timeout 60 "$LATCHKEY_BIN" migrate >/dev/null
for i in "${INSTANCES[@]}"; do
  LATCHKEY_LISTEN="127.0.0.1:${LK_PORT[$i]}" \
  LATCHKEY_OPERATOR_TOKEN="$(cat "$OPERATOR_TOKEN_FILE")" \
  LATCHKEY_BOOTSTRAP=false \
  LATCHKEY_SEALING_KEY="$(head -c 32 /dev/urandom | base64)" \
  LATCHKEY_AUTH_FAILURE_LIMIT=0 \
  LATCHKEY_ARGON2_M_COST=1024 LATCHKEY_ARGON2_T_COST=1 \
  LATCHKEY_WORKERS=2 LATCHKEY_DB_MAX_CONNECTIONS=10 \
  LATCHKEY_LOG_FORMAT=human \
    "$LATCHKEY_BIN" serve >>"$HA_DIR/latchkey-$i.log" 2>&1 &
  echo $! >"$HA_DIR/latchkey-$i.pid"
done
for i in "${INSTANCES[@]}"; do
  wait_for 30 "Latchkey $i ready" curl -fsS --max-time 1 "http://127.0.0.1:${LK_PORT[$i]}/readyz"
done
log "up: primary $(primary_node), synchronous mode $SYNC; Latchkey on 127.0.0.1:${LK_PORT[a]} and 127.0.0.1:${LK_PORT[b]}"

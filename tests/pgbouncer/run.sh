#!/usr/bin/env bash
# Latchkey through PgBouncer (Debian's 1.18) in session mode: starts PgBouncer on
# 127.0.0.1:6432 in front of the PostgreSQL of DATABASE_URL's host (127.0.0.1:5432), then runs
# the API tests that exercise the pool, LISTEN/NOTIFY (snapshots, change feed) and outages
# through it, with DATABASE_URL pointing at PgBouncer. Bounded (timeout), stops PgBouncer after.
# Transaction pooling is not supported by 1.18 (prepared statements): docs/high-availability.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR="${PGBOUNCER_DIR:-/tmp/latchkey-pgbouncer}"
PORT=6432

if [[ ! -x /usr/sbin/pgbouncer ]]; then
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  timeout 300 apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
fi

stop() {
  if [[ -s $DIR/pgbouncer.pid ]]; then
    local pid
    pid=$(cat "$DIR/pgbouncer.pid")
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/pgbouncer.ini"; then
      kill "$pid" 2>/dev/null || true
    fi
  fi
}
stop
rm -rf "$DIR" && mkdir -p "$DIR"
printf '"postgres" ""\n' >"$DIR/userlist.txt"
cat >"$DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = session
max_client_conn = 2000
default_pool_size = 200
max_db_connections = 0
server_reset_query = DISCARD ALL
; After a failed server login PgBouncer refuses clients for this long (default 15 s): keep it
; short, so that recovery after an outage or a failover is prompt.
server_login_retry = 1
; sqlx sends these at connection start; PgBouncer 1.18 would refuse the connection otherwise.
ignore_startup_parameters = extra_float_digits,options
pidfile = $DIR/pgbouncer.pid
logfile = $DIR/pgbouncer.log
INI
chown -R postgres:postgres "$DIR"
setpriv --reuid=postgres --regid=postgres --init-groups -- /usr/sbin/pgbouncer -d "$DIR/pgbouncer.ini"
trap stop EXIT
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p $PORT && break; sleep 0.2; done
pg_isready -q -h 127.0.0.1 -p $PORT || { echo "PgBouncer did not start"; cat "$DIR/pgbouncer.log"; exit 1; }
/usr/sbin/pgbouncer --version | head -1

# The outage tests expect the very next request after the database returns to succeed; through
# PgBouncer it succeeds after server_login_retry (1 s) instead, so they run directly only.
DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres" timeout 900 \
  cargo test --test api -- hotpath:: failover:: config_clients:: registration_clients:: security:: \
  --skip database_outage_is_503 --skip while_the_database_is_away --skip a_read_only_server_is_not_used

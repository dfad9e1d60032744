#!/usr/bin/env bash
# Kills the PostgreSQL primary under load and measures what Latchkey's callers saw
# (docs/high-availability.md): write and read unavailability, acknowledged writes lost, stale
# answers. Needs scripts/ha/up.sh first. KILLS=n kills in a row (default 1); after each, the
# killed node is started again and rejoins as a replica before the next. Fails on a stale
# answer, on a lost acknowledged write in synchronous mode, or when writes never came back.
# Bounded: each kill takes about 40 s, at most ~3 minutes.
#
#   scripts/ha/up.sh && KILLS=5 scripts/ha/failover-test.sh; scripts/ha/down.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/ha/lib.sh
KILLS="${KILLS:-1}"
[[ -s $HA_DIR/sync-mode ]] || die "run scripts/ha/up.sh first"
SYNC=$(cat "$HA_DIR/sync-mode")
status=0
for k in $(seq 1 "$KILLS"); do
  wait_for 120 "cluster whole before kill $k" cluster_whole
  primary=$(primary_node)
  log "kill $k of $KILLS: primary $primary (synchronous mode $SYNC)"
  set +e
  timeout 240 python3 scripts/ha/load.py --token "$(cat "$OPERATOR_TOKEN_FILE")" \
    --ports "${LK_PORT[a]},${LK_PORT[b]}" --sync "$SYNC" \
    --kill "bash -c 'source scripts/ha/lib.sh && kill_node $primary && echo $primary'" \
    | tee "$HA_DIR/kill-$k.txt"
  rc=${PIPESTATUS[0]}
  set -e
  ((rc == 0)) || { log "kill $k: FAILED (exit $rc)"; status=1; }
  log "kill $k: new primary $(primary_node || echo none); $primary rejoins"
  start_node "$primary"
done
wait_for 120 "cluster whole after the last kill" cluster_whole
grep -h '^RESULT ' "$HA_DIR"/kill-*.txt | sed 's/^RESULT //' >"$HA_DIR/results.jsonl"
log "results: $HA_DIR/results.jsonl"
exit $status

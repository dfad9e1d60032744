#!/usr/bin/env bash
# Independent check of the audit evidence (issue #20): a short RFC 6962 verifier written in
# Python and Ed25519 from PyPI's `cryptography`, fed only what an auditor gets over HTTP from a
# live `latchkey serve` on a fresh database (checkpoints, proofs, the NDJSON export, the public
# verifier keys). Tampering cases must each be detected.
#
# Needs DATABASE_URL (a role that may create databases), python3 and cargo. The venv is cached
# under target/audit-evidence-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
venv=target/audit-evidence-venv
if ! "$venv/bin/python" -c 'import cryptography' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cryptography>=42,<47"
fi

cargo build --quiet --bin latchkey
bin="$PWD/target/debug/latchkey"

db="lk_audit_evidence_$$"
base="${DATABASE_URL%%\?*}"
server="${base%/*}"
psql -q "$DATABASE_URL" -c "CREATE DATABASE \"$db\"" >/dev/null
export DATABASE_URL="$server/$db"
LATCHKEY_SEALING_KEY="$("$bin" keys generate)"
export LATCHKEY_SEALING_KEY
export LATCHKEY_OPERATOR_TOKEN="audit-evidence-operator-$$-token"
export LATCHKEY_CHECKPOINT_SECS=1
export LATCHKEY_PUBLIC_URL="https://auditor.example.test"
export RUST_LOG=warn
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export LATCHKEY_LISTEN="127.0.0.1:$port"

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql -q "$base" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin" migrate >/dev/null
created="$("$bin" apps create --name audit-evidence)"
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d' + sys.argv[2]))" "$created" "$1"; }
export APP_ID="$(field "['app_id']")"
export OWNER_ID="$(field "['owner']['_id']")"
export OWNER_SECRET="$(field "['owner']['_secret']")"
export LATCHKEY_URL="http://127.0.0.1:$port"

"$bin" serve &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$LATCHKEY_URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

timeout 300 "$venv/bin/python" tests/audit_evidence/test_audit_evidence.py

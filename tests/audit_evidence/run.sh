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
. tests/support/live_server.sh
venv=target/audit-evidence-venv
python_venv "$venv" 'import cryptography' "cryptography>=42,<47"

export LATCHKEY_CHECKPOINT_SECS=1
export LATCHKEY_PUBLIC_URL="https://auditor.example.test"
live_server_start lk_audit_evidence

timeout 300 "$venv/bin/python" tests/audit_evidence/test_audit_evidence.py

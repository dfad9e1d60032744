#!/usr/bin/env bash
# Compatibility test with the vendor's own Python libraries (issue #11): janrain-python-api and
# janrain-datalib from PyPI, used with their defaults (signed requests) against a live
# `latchkey serve` on a fresh database, with an application created by
# `latchkey apps create --signed-requests`.
#
# Needs DATABASE_URL (a role that may create databases), python3 and cargo. The venv is cached
# under target/vendor-libs-venv; the libraries need setuptools<58 and --no-build-isolation.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
venv=target/vendor-libs-venv
if ! "$venv/bin/python" -c 'import janrain.capture, janrain_datalib' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "setuptools<58" wheel
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation \
    "janrain-python-api==0.4.0" "janrain-datalib==0.2.1"
fi

. tests/live_server.sh
live_server lk_vendor_libs --signed-requests

timeout 300 "$venv/bin/python" tests/vendor_libs/test_vendor_libs.py

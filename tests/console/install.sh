#!/usr/bin/env bash
# Installs what the console's browser tests (tests/console) need: Debian's Chromium and its
# WebDriver. Does nothing when both are there. Called by .ci/run before `cargo test`.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
chromedriver --version

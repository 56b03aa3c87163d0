#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser tests (scripts/e2e/dashboard_test.go).
# Idempotent: does nothing when chromium is already on the PATH.
set -euo pipefail
command -v chromium >/dev/null && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq || true # a stale index can still hold chromium; the install below decides
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium
command -v chromium >/dev/null

#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the demo's browser tests
# (crates/tessera-demo/tests/browser.rs), if they are absent. Idempotent. Starts nothing: each
# test run starts its own chromedriver on a free port, so no long-lived process is left behind.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium and chromedriver already installed: $(chromedriver --version 2>/dev/null | head -n 1)"
  exit 0
fi

echo "installing chromium and chromium-driver (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "chromium or chromedriver is still missing after apt-get install" >&2
  exit 1
fi
echo "installed $(chromedriver --version 2>/dev/null | head -n 1)"

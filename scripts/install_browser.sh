#!/usr/bin/env bash
# Install what the service's tests drive (tests/test_serve_browser.py): Debian's headless Chromium and its
# chromedriver, which Selenium is given by path (so Selenium Manager never downloads a browser), and curl for
# the README's service example. Idempotent; apt needs root (or sudo).
set -euo pipefail
debs=(chromium chromium-driver curl)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

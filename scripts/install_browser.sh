#!/usr/bin/env bash
# Install what the service's tests drive (tests/test_serve_browser.py): Debian's headless Chromium and its
# chromedriver, which Selenium is given by path (so Selenium Manager never downloads a browser), and curl for
# the README's service example. Idempotent; apt needs root (or sudo).
set -euo pipefail
bash "$(dirname "$0")/apt_install.sh" chromium chromium-driver curl

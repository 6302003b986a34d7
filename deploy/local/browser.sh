#!/usr/bin/env bash
# Makes sure the browser tests can run: Debian's Chromium and ChromeDriver
# (/usr/bin/chromium, /usr/bin/chromedriver), installed when missing.
set -euo pipefail
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  exit 0
fi
echo "browser.sh: installing chromium and chromium-driver from Debian" >&2
sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || {
    echo "browser.sh: chromium is missing; install chromium and chromium-driver" >&2
    exit 1
  }
  sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null

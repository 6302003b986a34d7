#!/usr/bin/env bash
# Lints the contracts with buf (AIP-friendly STANDARD rules, see
# proto/buf.yaml). buf comes from the npm registry (its platform binary is
# an npm package too), installed once under target/tools; Node and npm are
# installed from Debian when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BUF_VERSION=1.75.0
TOOLS="target/tools/buf-$BUF_VERSION"

if ! command -v npm >/dev/null; then
  echo "check-proto.sh: installing Node.js and npm from Debian" >&2
  sudo_cmd=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "check-proto.sh: npm is missing; install nodejs and npm" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
if [[ ! -x "$TOOLS/node_modules/.bin/buf" ]]; then
  echo "check-proto.sh: installing @bufbuild/buf@$BUF_VERSION" >&2
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "@bufbuild/buf@$BUF_VERSION" >&2
fi

(cd proto && "../$TOOLS/node_modules/.bin/buf" lint)
echo "proto: buf lint ok" >&2

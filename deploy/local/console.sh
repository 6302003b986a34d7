#!/usr/bin/env bash
# Builds the web console (services/gateway/console) into its dist/ folder,
# which the gateway embeds when it is compiled: installs the console's npm
# packages from its package-lock.json (Node.js and npm come from Debian
# when missing), generates the TypeScript clients from proto/, type-checks
# and bundles. With `--check` it also lints.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
console=services/gateway/console

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "console.sh: $1 needs root; install nodejs and npm" >&2
    exit 1
  fi
}

if ! command -v npm >/dev/null; then
  echo "console.sh: installing Node.js and npm from Debian" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
fi

# Install again only when the lock file changed since the last install.
stamp="$console/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$console/package-lock.json" -nt "$stamp" ]]; then
  echo "console.sh: installing the console's npm packages" >&2
  (cd "$console" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

(cd "$console" && npm run --silent build >&2)
if [[ "${1:-}" == "--check" ]]; then
  (cd "$console" && npx eslint --max-warnings=0 src >&2)
fi
echo "console.sh: built $console/dist" >&2

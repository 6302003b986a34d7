#!/usr/bin/env bash
# Runs the whole platform locally: every service and the gateway in one
# process (`estate all`), on PostgreSQL (DATABASE_URL, a server on
# 127.0.0.1:5432, or a private cluster started now), with demo data, and
# prints the web console's address and grpcurl lines to call it. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ -z "${DATABASE_URL:-}" ]]; then
  # The platform gets its own database on the server postgres.sh found.
  admin_url="$(deploy/local/postgres.sh)"
  DATABASE_URL="${admin_url%/*}/estate_dev"
fi
export DATABASE_URL

# A stable administrator key for this checkout, so the printed grpcurl lines
# keep working across restarts. Generated locally, never committed.
key_file="target/estate-dev/admin-key"
if [[ -z "${ESTATE_BOOTSTRAP_ADMIN_KEY:-}" ]]; then
  if [[ ! -s "$key_file" ]]; then
    mkdir -p "$(dirname "$key_file")"
    (umask 077 && printf 'estate_dev_%s\n' "$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" >"$key_file")
  fi
  ESTATE_BOOTSTRAP_ADMIN_KEY="$(cat "$key_file")"
fi
export ESTATE_BOOTSTRAP_ADMIN_KEY

# The web console, embedded in the gateway when it is compiled. The API
# runs without it: a failed console build is reported, not fatal.
deploy/local/console.sh || echo "run.sh: the web console was not built (see above); the API runs without it" >&2
cargo build --locked -p estate-launcher --bin estate
exec target/debug/estate all --demo --demo-env target/estate-dev/demo.env --create-database "$@"

#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every crate's
# unit and end-to-end tests against real PostgreSQL, the proto lint and the
# Kubernetes manifest check. Works on a fresh Debian machine with Rust:
# PostgreSQL, Node (for buf and the web console), Chromium (for the
# console's browser tests) and Python (for kubernetes-validate) are
# installed or started on demand by the scripts it calls.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "PostgreSQL"
# A server on 127.0.0.1:5432, DATABASE_URL, or a private cluster started now.
DATABASE_URL="$(deploy/local/postgres.sh)"
export DATABASE_URL
echo "using $DATABASE_URL" >&2
# Each test creates and drops its own estate_test_* database (also when it
# panics), so runs sharing a server never touch each other's data.

step "web console: npm packages, generated clients, type check, lint, bundle"
# Before cargo: the gateway embeds the bundle when it is compiled.
deploy/local/console.sh --check

step "Chromium and ChromeDriver (browser tests)"
deploy/local/browser.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo clippy: the production binary (no demo data)"
cargo clippy -p estate-launcher --bin estate --no-default-features --locked -- -D warnings

step "cargo test"
mkdir -p target
cargo test --workspace --locked 2>&1 | tee target/test-output.txt
passed=$(grep -Eo '[0-9]+ passed' target/test-output.txt | awk '{sum += $1} END {print sum + 0}')

step "buf lint (proto/)"
deploy/local/check-proto.sh

step "Kubernetes manifests"
deploy/local/check-manifests.sh

printf '\nall checks passed\n' >&2
printf 'tests: %d passed, 0 failed\n' "$passed"

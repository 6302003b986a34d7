#!/usr/bin/env bash
# deploy/local/postgres.sh - give local run and test commands a PostgreSQL admin URL.
#
# Usage:
#   export DATABASE_URL="$(deploy/local/postgres.sh)"   # prints exactly one line: the URL
#   deploy/local/postgres.sh stop                       # stop the private cluster, if running
#   source deploy/local/postgres.sh                     # same as the first line (bash only)
#
# How the URL is chosen (first match wins):
#   1. DATABASE_URL is set and non-empty: print it unchanged. The caller knows best, and
#      checking it would need a client we may not have.
#   2. A server on 127.0.0.1:5432 lets user postgres in without a password (a developer's
#      own server, or a CI service container): print postgres://postgres@127.0.0.1:5432/postgres.
#   3. Otherwise use a private, throw-away cluster for this checkout: created on first use,
#      started if stopped, reused if running. If no PostgreSQL server programs exist, Debian's
#      `postgresql` package is installed first.
#
# Environment:
#   ESTATE_PG_PRIVATE=1  skip 1 and 2 and always use the private cluster.
#   ESTATE_PGDATA        private cluster's data dir (default <repo>/target/estate-pg/data).
#   ESTATE_PGPORT        private cluster's TCP port (default 54329; 5432 is left to step 2).
#
# stdout carries only the URL, so $(...) captures exactly that; everything else goes to stderr.

# When sourced, run as a child instead: `set -euo pipefail`, helper functions and an `exit`
# must not leak into (or kill) the caller's interactive shell. Then export the result.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  if __estate_pg_url="$(bash "${BASH_SOURCE[0]}" start)"; then
    export DATABASE_URL="$__estate_pg_url"
    printf '%s\n' "$DATABASE_URL"
    unset __estate_pg_url
    return 0
  fi
  unset __estate_pg_url
  return 1
fi

set -euo pipefail

REPO_ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PORT="${ESTATE_PGPORT:-54329}"
SHARED_URL='postgres://postgres@127.0.0.1:5432/postgres'
READY_TIMEOUT=30 # seconds

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
is_root() { [[ "$(id -u)" -eq 0 ]]; }

# ---------------------------------------------------------------------------------------------
# Finding programs

# Server-version directories, newest first. Debian keeps server programs (initdb, pg_ctl) there,
# off PATH, one directory per installed major version.
pg_bin_dirs() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [[ -d "$d" ]]; then printf '%s\n' "$d"; fi
  done | sort -rV
}

# Print the path of a PostgreSQL program: PATH first, then the newest Debian version directory.
find_pg_tool() {
  local name="$1" dir
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return 0
  fi
  while IFS= read -r dir; do
    if [[ -x "$dir/$name" ]]; then
      printf '%s\n' "$dir/$name"
      return 0
    fi
  done < <(pg_bin_dirs)
  return 1
}

# Set INITDB and PG_CTL. If a major version is given (an existing cluster's PG_VERSION), prefer
# that version's directory: a data dir can only be run by the major version that created it.
# Otherwise PATH wins, then the newest /usr/lib/postgresql/<major>/bin.
find_server_bins() {
  local want="${1:-}" dir
  if [[ -n "$want" && -x "/usr/lib/postgresql/$want/bin/pg_ctl" && -x "/usr/lib/postgresql/$want/bin/initdb" ]]; then
    INITDB="/usr/lib/postgresql/$want/bin/initdb"
    PG_CTL="/usr/lib/postgresql/$want/bin/pg_ctl"
    return 0
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    INITDB="$(command -v initdb)"
    PG_CTL="$(command -v pg_ctl)"
    return 0
  fi
  while IFS= read -r dir; do
    if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
      INITDB="$dir/initdb"
      PG_CTL="$dir/pg_ctl"
      return 0
    fi
  done < <(pg_bin_dirs)
  return 1
}

# Major version of the chosen server programs ("pg_ctl (PostgreSQL) 15.20 (Debian ...)" -> 15).
server_major() {
  local v
  v="$("$PG_CTL" --version | awk '{print $3}')"
  v="${v%%.*}"
  printf '%s\n' "${v%%[!0-9]*}"
}

# Run a command as root: directly when we are root, else through sudo.
as_admin() {
  if is_root; then "$@"; else sudo "$@"; fi
}

# Install Debian's `postgresql` metapackage (server, initdb, pg_ctl, psql, pg_isready).
# Its postinst may also create and start a system cluster "main" on port 5432. We leave that
# service alone but do not use it: it needs a password for TCP logins (peer/scram-sha-256 in its
# pg_hba.conf), and using our own private cluster keeps every machine on the same path.
install_postgres() {
  command -v apt-get >/dev/null 2>&1 ||
    die "no PostgreSQL server programs (initdb, pg_ctl) found and apt-get is unavailable; install PostgreSQL"
  if ! is_root && ! command -v sudo >/dev/null 2>&1; then
    die "no PostgreSQL server programs found; as root run: apt-get update && apt-get install postgresql"
  fi
  log "PostgreSQL server programs not found; installing Debian package 'postgresql'"
  # apt's output goes to stderr: stdout is reserved for the URL.
  as_admin env DEBIAN_FRONTEND=noninteractive apt-get update >&2
  as_admin env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
}

# ---------------------------------------------------------------------------------------------
# Running as root
#
# initdb and pg_ctl refuse to run as root, so root runs them as the `postgres` OS user, which
# then must own the data dir and be able to traverse every directory above it.

ensure_pg_user() {
  if id -u postgres >/dev/null 2>&1; then return 0; fi
  # Normally created by Debian's postgresql-common; only missing with hand-installed binaries.
  log "creating system user postgres"
  local group_opt=(--user-group)
  if getent group postgres >/dev/null 2>&1; then group_opt=(--gid postgres); fi
  useradd --system "${group_opt[@]}" --no-create-home --home-dir /var/lib/postgresql \
    --shell /usr/sbin/nologin postgres
}

# Run a PostgreSQL program as the cluster's owner. `cd /` avoids "could not change directory"
# warnings when the caller's cwd (e.g. /root) is unreadable for postgres. `9>&-` keeps the lock
# fd (see take_lock) out of the long-lived postmaster, which would otherwise hold the lock forever.
as_pg() {
  if ! is_root; then
    "$@" 9>&-
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- "$@" 9>&-)
  else
    (cd / && su -s /bin/bash postgres -c "$(printf '%q ' "$@")" 9>&-)
  fi
}

# True if the postgres user can reach $1, or, when $1 does not exist yet, its nearest existing
# ancestor (we create the rest with mode 755). access(2) checks every directory on the way,
# so this fails for paths under /root and similar.
pg_user_can_reach() {
  local d="$1"
  while [[ ! -e "$d" ]]; do d="$(dirname "$d")"; done
  as_pg test -x "$d" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Private cluster layout

# Sets PGDATA_DIR plus the files kept beside it, all in the data dir's parent (PG_ROOT):
#   <data>.socket/  unix socket dir (private to the cluster, unlike /var/run/postgresql)
#   <data>.log      server log
#   <data>.lock     serialises concurrent invocations of this script
resolve_layout() {
  local explicit=0
  if [[ -n "${ESTATE_PGDATA:-}" ]]; then
    PGDATA_DIR="$ESTATE_PGDATA"
    explicit=1
    # Absolute, because PostgreSQL programs run from / when we are root.
    if [[ "$PGDATA_DIR" != /* ]]; then PGDATA_DIR="$PWD/$PGDATA_DIR"; fi
  else
    PGDATA_DIR="$REPO_ROOT/target/estate-pg/data"
  fi
  PGDATA_DIR="${PGDATA_DIR%/}"
  PG_ROOT="$(dirname "$PGDATA_DIR")"

  if is_root && ! pg_user_can_reach "$PG_ROOT"; then
    if [[ "$explicit" -eq 1 ]]; then
      die "ESTATE_PGDATA=$ESTATE_PGDATA: the postgres OS user cannot traverse $PG_ROOT or a directory above it"
    fi
    # e.g. the checkout lives under /root (mode 700): fall back to a fixed per-uid place, so
    # that later runs (and `stop`) find the same cluster again.
    PG_ROOT="/tmp/estate-pg-$(id -u)"
    PGDATA_DIR="$PG_ROOT/data"
    log "postgres cannot reach $REPO_ROOT/target; using $PGDATA_DIR instead"
  fi

  SOCKET_DIR="$PGDATA_DIR.socket"
  LOG_FILE="$PGDATA_DIR.log"
  LOCK_FILE="$PGDATA_DIR.lock"
  # A unix socket path must fit in sun_path (107 bytes). For a deeply nested checkout, listen on
  # TCP only: we connect over 127.0.0.1 anyway, and pg_ctl does not need the socket.
  local socket_path="$SOCKET_DIR/.s.PGSQL.$PORT"
  if ((${#socket_path} > 107)); then
    log "unix socket path would be too long; the private cluster listens on TCP only"
    SOCKET_DIR=""
  fi
}

# Create the directories the cluster needs; as root, hand postgres exactly what it writes to
# (never chown a directory we did not create: ESTATE_PGDATA's parent could be /tmp).
prepare_dirs() {
  if [[ "$PG_ROOT" == /tmp/estate-pg-* && -e "$PG_ROOT" && (-L "$PG_ROOT" || ! -O "$PG_ROOT") ]]; then
    die "$PG_ROOT exists but is not a directory owned by us; remove it"
  fi
  (umask 022 && mkdir -p "$PG_ROOT" && touch "$LOG_FILE") 2>/dev/null ||
    die "cannot create files in $PG_ROOT; set ESTATE_PGDATA to a writable place"
  if [[ -n "$SOCKET_DIR" ]]; then mkdir -p -m 700 "$SOCKET_DIR"; fi
  if is_root; then
    mkdir -p -m 700 "$PGDATA_DIR" # initdb accepts an existing empty dir owned by postgres
    chown postgres: "$PGDATA_DIR" "$LOG_FILE"
    if [[ -n "$SOCKET_DIR" ]]; then chown postgres: "$SOCKET_DIR"; fi
  fi
}

# Parallel test jobs may all call this script at once; only one may run initdb / pg_ctl start.
take_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>>"$LOCK_FILE"
  flock -w 120 9 || die "timed out waiting for $LOCK_FILE"
}

# Pick server programs matching an existing cluster (else any), or die.
select_server_bins() {
  local want="" have
  if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then want="$(<"$PGDATA_DIR/PG_VERSION")"; fi
  find_server_bins "$want" || die "no PostgreSQL server programs (initdb, pg_ctl) found"
  have="$(server_major)"
  if [[ -n "$want" && "$want" != "$have" ]]; then
    die "$PGDATA_DIR was created by PostgreSQL $want but only PostgreSQL $have is available; install postgresql-$want or delete $PGDATA_DIR"
  fi
}

# ---------------------------------------------------------------------------------------------
# Private cluster lifecycle

init_cluster() {
  log "creating private cluster in $PGDATA_DIR (PostgreSQL $(server_major))"
  # -U postgres: the superuser is "postgres" whichever OS user runs this, so the URL is the same
  #              on every machine.
  # -A trust:    no passwords; acceptable because the cluster only listens on 127.0.0.1 and
  #              holds throw-away dev/test data.
  # --locale=C -E UTF8: independent of which locales the machine has generated.
  # --no-sync:   nothing here must survive a power cut (see fsync=off below).
  # initdb's chatter goes to the server log; it is shown only if initdb fails.
  if ! as_pg "$INITDB" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C --no-sync >>"$LOG_FILE" 2>&1; then
    show_log_tail
    die "initdb failed"
  fi
}

# Single-quote a value for postgresql.conf.
conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# Our settings live in <data>/estate.conf, rewritten before every start so a changed
# ESTATE_PGPORT or path takes effect, and included at the end of postgresql.conf so they
# override initdb's defaults.
write_config() {
  local conf="$PGDATA_DIR/estate.conf" main="$PGDATA_DIR/postgresql.conf"
  cat >"$conf" <<EOF
# Written by deploy/local/postgres.sh before every start; edits here are overwritten.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = $(conf_quote "$SOCKET_DIR")
max_connections = 300
# Dev/test speed only: without these a crash cannot corrupt data, with them it can. Fine for a
# throw-away cluster that tests recreate anyway; never copy these settings to a real server.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  if ! grep -qxF "include 'estate.conf'" "$main"; then
    printf '\n%s\n' "include 'estate.conf'" >>"$main"
  fi
  if is_root; then chown postgres: "$conf"; fi
}

cluster_running() {
  [[ -f "$PGDATA_DIR/postmaster.pid" ]] && as_pg "$PG_CTL" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

# The port a running cluster actually listens on (line 4 of postmaster.pid).
running_port() { sed -n 4p "$PGDATA_DIR/postmaster.pid"; }

show_log_tail() {
  log "last lines of $LOG_FILE:"
  tail -n 20 "$LOG_FILE" >&2 || true
}

start_cluster() {
  log "starting private cluster on 127.0.0.1:$PORT (log: $LOG_FILE)"
  # -l sends the server's output to the log file, so the postmaster does not hold our stdout
  # open (which would make `$(postgres.sh)` wait forever).
  if ! as_pg "$PG_CTL" start -D "$PGDATA_DIR" -l "$LOG_FILE" -w -t "$READY_TIMEOUT" >&2; then
    show_log_tail
    die "could not start the private cluster (is port $PORT already in use?)"
  fi
}

# True if a server accepts connections on host:port. pg_isready if we have it, otherwise a bare
# TCP connect through bash's /dev/tcp.
accepting() {
  local isready
  if isready="$(find_pg_tool pg_isready)"; then
    "$isready" -q -h "$1" -p "$2" -U postgres -d postgres -t 3
  else
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
  fi
}

wait_ready() {
  local port="$1" deadline=$((SECONDS + READY_TIMEOUT))
  until accepting 127.0.0.1 "$port"; do
    if ((SECONDS >= deadline)); then
      show_log_tail
      die "private cluster does not accept connections on 127.0.0.1:$port after ${READY_TIMEOUT}s (if its server was killed, retry once the process is gone)"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# Step 2: is there a usable server on 127.0.0.1:5432?

shared_server_usable() {
  accepting 127.0.0.1 5432 || return 1
  local psql
  if ! psql="$(find_pg_tool psql)"; then
    log "127.0.0.1:5432 answers; psql is missing, so assuming user postgres may log in without a password"
    return 0
  fi
  # -w: never prompt. No PGPASSWORD / ~/.pgpass: the URL we print carries no password either.
  if env -u PGPASSWORD PGPASSFILE=/nonexistent PGCONNECT_TIMEOUT=5 \
    "$psql" -X -w -q -At -h 127.0.0.1 -p 5432 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
    return 0
  fi
  log "127.0.0.1:5432 answers but user postgres cannot log in without a password; using a private cluster"
  return 1
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_start() {
  if [[ "${ESTATE_PG_PRIVATE:-}" != 1 ]]; then
    if [[ -n "${DATABASE_URL:-}" ]]; then
      printf '%s\n' "$DATABASE_URL"
      return 0
    fi
    if shared_server_usable; then
      log "using the PostgreSQL server on 127.0.0.1:5432"
      printf '%s\n' "$SHARED_URL"
      return 0
    fi
  fi

  if ! find_server_bins; then install_postgres; fi
  if is_root; then ensure_pg_user; fi
  resolve_layout
  prepare_dirs
  take_lock
  select_server_bins

  if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then init_cluster; fi

  local port="$PORT"
  if cluster_running; then
    port="$(running_port)"
    if [[ "$port" != "$PORT" ]]; then
      log "warning: private cluster already runs on port $port, not $PORT; run '$0 stop' to change it"
    fi
    log "reusing running private cluster in $PGDATA_DIR"
  else
    write_config
    start_cluster
  fi
  wait_ready "$port"
  printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$port"
}

cmd_stop() {
  # As root, no postgres user means we never created (or started) a cluster.
  if is_root && ! id -u postgres >/dev/null 2>&1; then
    log "no private cluster to stop"
    return 0
  fi
  resolve_layout
  if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
    log "no private cluster at $PGDATA_DIR"
    return 0
  fi
  take_lock
  select_server_bins
  if cluster_running; then
    as_pg "$PG_CTL" stop -D "$PGDATA_DIR" -m fast -w >&2
  else
    log "private cluster in $PGDATA_DIR is not running"
  fi
}

[[ "$PORT" =~ ^[0-9]+$ ]] || die "ESTATE_PGPORT must be a port number, got '$PORT'"

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2 ;;
  *) die "usage: $0 [start|stop]" ;;
esac

#!/usr/bin/env bash
# Databases for the store tests: installs Debian's PostgreSQL, psqlODBC, SQLite's ODBC driver and the unixODBC
# headers (the odbc addon builds against them), then starts a throwaway PostgreSQL cluster on a loopback port,
# or reuses one already running. Idempotent: a second run finds everything in place and only prints the URL.
#
#   eval "$(scripts/ci-databases.sh)"        # installs, starts, exports DATASTATE_TEST_PG_URL
#   scripts/ci-databases.sh stop             # stops the cluster this script started
#   scripts/ci-databases.sh status           # prints the URL when the cluster is up, exit 1 when it is not
#
# stdout carries only `export DATASTATE_TEST_PG_URL=...` (for eval); progress goes to stderr. The same line is
# written to $DATASTATE_PG_DIR/env. When DATASTATE_TEST_PG_URL is already set and the server answers, nothing is
# installed or started: it is printed back as is.
#
# Environment: DATASTATE_PG_DIR (default /tmp/datastate-pg: data directory, socket, log), DATASTATE_PG_PORT
# (default 55432), DATASTATE_SKIP_APT=1 (do not apt-get; fail if something is missing).
# Runs as root (the cluster then runs as the `postgres` user, which Debian's package creates) or as any user
# that can run initdb.
set -euo pipefail

PG_DIR=${DATASTATE_PG_DIR:-/tmp/datastate-pg}
PG_PORT=${DATASTATE_PG_PORT:-55432}
# Addresses to listen on, the one to connect to, and a CIDR allowed to connect (scripts/cluster-demo.sh: the
# node address of the cluster, whose pods connect from 10.244.0.0/24).
PG_LISTEN=${DATASTATE_PG_LISTEN:-127.0.0.1}
PG_ALLOW_CIDR=${DATASTATE_PG_ALLOW_CIDR:-}
PG_USER=datastate
PG_PASS=datastate
URL="postgres://${PG_USER}:${PG_PASS}@${DATASTATE_PG_HOST:-127.0.0.1}:${PG_PORT}/postgres"
APT_PACKAGES=(postgresql odbc-postgresql libsqliteodbc unixodbc unixodbc-dev)

log() { echo "ci-databases: $*" >&2; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] || { log "PostgreSQL server binaries not found under /usr/lib/postgresql"; return 1; }
  echo "$d"
}

answers() { # url
  command -v psql >/dev/null 2>&1 && PGCONNECT_TIMEOUT=3 psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
}

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # pgvector is not in Debian bookworm's main archive; install it when an apt source offers it.
  local pgv
  pgv="postgresql-$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)-pgvector"
  if [ "$pgv" != "postgresql--pgvector" ] && ! dpkg-query -W -f='${Status}' "$pgv" 2>/dev/null | grep -q 'install ok installed' &&
    apt-cache show "$pgv" >/dev/null 2>&1; then missing+=("$pgv"); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${DATASTATE_SKIP_APT:-}" = 1 ]; then log "missing packages: ${missing[*]} (DATASTATE_SKIP_APT=1)"; return 1; fi
  [ "$(id -u)" = 0 ] || { log "missing packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}"; return 1; }
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  # the postgresql package may create and start its own cluster on 5432: we do not use it
}

start_cluster() {
  local bin
  bin=$(pg_bindir)
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initdb $PG_DIR/data"
    local pwfile="$PG_DIR/pw"
    echo "$PG_PASS" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pwfile"
    as_pg "$bin/initdb" -D "$PG_DIR/data" -U "$PG_USER" --pwfile="$pwfile" --auth-host=scram-sha-256 --auth-local=trust \
      -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
    if [ -n "$PG_ALLOW_CIDR" ]; then
      echo "host all $PG_USER $PG_ALLOW_CIDR scram-sha-256" >>"$PG_DIR/data/pg_hba.conf"
    fi
  fi
  if as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    log "cluster already running in $PG_DIR/data"
  else
    log "starting PostgreSQL on $PG_LISTEN:$PG_PORT"
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
      -o "-c listen_addresses=$PG_LISTEN -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c max_connections=100" >&2 ||
      { tail -20 "$PG_DIR/server.log" >&2; return 1; }
  fi
  for _ in $(seq 1 30); do answers "$URL" && return 0; sleep 0.5; done
  log "the server does not answer at 127.0.0.1:$PG_PORT (log: $PG_DIR/server.log)"
  return 1
}

stop_cluster() {
  local bin
  bin=$(pg_bindir)
  if [ -f "$PG_DIR/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >&2
  else
    log "no cluster running in $PG_DIR/data"
  fi
}

case "${1:-start}" in
  start)
    if [ -n "${DATASTATE_TEST_PG_URL:-}" ] && answers "$DATASTATE_TEST_PG_URL"; then
      log "using the server at DATASTATE_TEST_PG_URL"
      URL=$DATASTATE_TEST_PG_URL
    else
      install_packages
      start_cluster
    fi
    mkdir -p "$PG_DIR"
    printf "export DATASTATE_TEST_PG_URL=%q\n" "$URL" | tee "$PG_DIR/env"
    ;;
  stop) stop_cluster ;;
  status)
    if answers "$URL"; then echo "$URL"; else exit 1; fi
    ;;
  *)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2
    ;;
esac

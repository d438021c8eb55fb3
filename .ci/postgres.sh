#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the store tests (make test).
#   .ci/postgres.sh start      installs Debian's postgresql when missing, makes a
#                              cluster in a new temp dir, starts it with its Unix
#                              socket in that dir (no TCP), prints the dir
#   .ci/postgres.sh url DIR    the URL the tests use (REAUTH_TEST_DATABASE_URL)
#   .ci/postgres.sh stop DIR   stops that server by its PID and removes the dir
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` user that Debian's package creates.
set -euo pipefail

pgbin() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

install_postgres() {
  command -v apt-get >/dev/null 2>&1 || {
    echo "PostgreSQL is required for the store tests: install it (Debian: apt-get install postgresql) and retry" >&2
    exit 1
  }
  echo "installing postgresql (Debian) for the store tests" >&2
  local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  bin=$(pgbin) || { install_postgres; bin=$(pgbin); }
  dir=$(mktemp -d "${TMPDIR:-/tmp}/reauth-pg.XXXXXX")
  chmod 0755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U reauth -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2; exit 1; }
  # max_connections: every store test opens its own pool.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -c listen_addresses= -c max_connections=300" start >/dev/null || {
    cat "$dir/server.log" >&2; exit 1; }
  echo "$dir"
  ;;
url)
  dir=${2:?usage: postgres.sh url DIR}
  echo "postgres://reauth@/postgres?host=$dir&sslmode=disable"
  ;;
stop)
  dir=${2:?usage: postgres.sh stop DIR}
  if [ -f "$dir/data/postmaster.pid" ]; then
    pid=$(head -n1 "$dir/data/postmaster.pid")
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start | url DIR | stop DIR" >&2; exit 2
  ;;
esac

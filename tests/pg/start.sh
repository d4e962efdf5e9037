#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the tests: initdb (as the `postgres` user when run
# as root) in a temp directory, listening on 127.0.0.1 on a free port, with database `entente`.
# Prints shell assignments to eval:
#   ENTENTE_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/entente  ENTENTE_TEST_PG_DIR=…
# Stop it with: bash tests/pg/stop.sh "$ENTENTE_TEST_PG_DIR"
set -euo pipefail
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
  BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
DIR="$(mktemp -d /tmp/entente-pg.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$DIR"
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}
as_pg "'$BIN/initdb' -D '$DIR/data' -U postgres --auth=trust --encoding=UTF8 --no-instructions" >/dev/null
# Durability as in production (fsync on); a small cluster is enough for tests and the load test.
as_pg "'$BIN/pg_ctl' -D '$DIR/data' -l '$DIR/log' -w -o \"-h 127.0.0.1 -p $PORT -k '$DIR' -c max_connections=300 -c shared_buffers=256MB\" start" >/dev/null
as_pg "'$BIN/createdb' -h 127.0.0.1 -p $PORT -U postgres entente"
echo "ENTENTE_TEST_PG_URL=postgres://postgres@127.0.0.1:$PORT/entente"
echo "ENTENTE_TEST_PG_DIR=$DIR"

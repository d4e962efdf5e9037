#!/usr/bin/env bash
# Stops and removes a cluster started by tests/pg/start.sh.
set -uo pipefail
DIR="${1:?the ENTENTE_TEST_PG_DIR printed by start.sh}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
if [ "$(id -u)" = 0 ]; then
  su postgres -s /bin/sh -c "'$BIN/pg_ctl' -D '$DIR/data' -m fast -w stop" >/dev/null 2>&1
else
  "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1
fi
rm -rf "$DIR"

#!/usr/bin/env bash
# Runs the TAXII 2.1 interoperability suite: creates a Python venv with the OASIS client and
# validator (from PyPI), starts a three-node demo on free loopback ports, runs suite.py
# against it, and stops the demo. Exit status is the suite's.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${VENV:-target/pyvenv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import taxii2client, stix2validator, requests' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q taxii2-client stix2-validator stix2 requests
fi
cargo build -q -p entente-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/entente"
WORK="$(mktemp -d)"
BASE="$("$VENV/bin/python" - <<'PY'
import socket
for base in range(20000, 60000, 7):
    socks = []
    try:
        for p in range(base, base + 3):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
)"
"$BIN" demo --dir "$WORK/demo" --base-port "$BASE" > "$WORK/demo.log" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 1 600); do
  [ -f "$WORK/demo/demo.json" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/demo.log"; exit 1; }
  sleep 0.1
done
"$VENV/bin/python" tests/taxii/suite.py "$WORK/demo/demo.json"

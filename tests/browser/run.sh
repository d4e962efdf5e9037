#!/usr/bin/env bash
# Runs the end-to-end browser tests: installs Debian's chromium and npm's playwright-core (no
# browser download), starts a three-node demo on free loopback ports, runs e2e.mjs against it
# and stops the demo. Screenshots land in target/browser-screenshots. Exit status is the test's.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
(cd tests/browser && npm install --no-audit --no-fund --silent)
cargo build -q -p entente-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/entente"
WORK="$(mktemp -d)"
BASE="$(python3 - <<'PY'
import socket
for base in range(21000, 60000, 7):
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
mkdir -p target/browser-screenshots
node tests/browser/e2e.mjs "$WORK/demo/demo.json" target/browser-screenshots || { tail -50 "$WORK/demo.log"; exit 1; }

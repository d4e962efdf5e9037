# Sourced by the suites that need a live three-node demo (tests/taxii/run.sh,
# tests/browser/run.sh): builds the binary, starts `entente demo` on three free consecutive
# loopback ports in a temp directory, waits for demo.json and stops the demo on exit.
# Sets DEMO_JSON (the credentials file) and WORK (the temp directory). Every node serves HTTPS
# with its own self-signed certificate (bound to its node key); the three certificates are
# collected in $DEMO_CA, which Python's requests (REQUESTS_CA_BUNDLE), OpenSSL tools
# (SSL_CERT_FILE), curl (CURL_CA_BUNDLE) and Node.js (NODE_EXTRA_CA_CERTS) are told to trust — only these.
cargo build -q -p entente-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/entente"
WORK="$(mktemp -d)"
BASE="$(python3 - <<'PY'
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
DEMO_PID=$!
demo_cleanup() { kill "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap demo_cleanup EXIT
for _ in $(seq 1 600); do
  [ -f "$WORK/demo/demo.json" ] && break
  kill -0 "$DEMO_PID" 2>/dev/null || { cat "$WORK/demo.log"; exit 1; }
  sleep 0.1
done
DEMO_JSON="$WORK/demo/demo.json"
DEMO_CA="$WORK/demo-ca.pem"
cat "$WORK"/demo/*/tls.crt > "$DEMO_CA"
export REQUESTS_CA_BUNDLE="$DEMO_CA" SSL_CERT_FILE="$DEMO_CA" CURL_CA_BUNDLE="$DEMO_CA" NODE_EXTRA_CA_CERTS="$DEMO_CA"

#!/usr/bin/env bash
# TAXII 2.1 benchmark, in one run, side by side with medallion (the OASIS reference server,
# memory backend), both measured through the OASIS client by ../shared/tools/taxii-bench.
#
#   bench/taxii-vs-medallion.sh [--objects 100000] [--read-objects 5000] [--out bench-results]
#
# - ingest: N objects by POST in batches of 500 until status complete, on both servers;
# - full paged read (page 1000): on Entente at N; on both at --read-objects, because
#   medallion's reads grow with the square of the collection (hours at 100k);
# prints both servers' objects/s and the ratios, and writes the JSON summaries to --out.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS=100000 READ_OBJECTS=5000 OUT=bench-results
while [ $# -gt 0 ]; do
  case "$1" in
    --objects) OBJECTS="$2"; shift 2 ;;
    --read-objects) READ_OBJECTS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
TB="$(cd .. && pwd)/shared/tools/taxii-bench"
[ -f "$TB/taxii_bench.py" ] || { echo "taxii-bench not found at $TB" >&2; exit 2; }
export VENV="${VENV:-$PWD/target/benchvenv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import taxii2client, medallion, stix2, stix2validator, gunicorn' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q taxii2-client medallion stix2 stix2-validator gunicorn
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cargo build --release -q -p entente-cli
BIN="$PWD/target/release/entente"
WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# One Entente node (EU) with an admin user, on a free port.
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" init --dir "$WORK/eu" --partner EU --listen "127.0.0.1:$PORT" >/dev/null
PASS=bench-password-1
"$BIN" user add --dir "$WORK/eu" --username bench --role admin --password "$PASS" >/dev/null
TOKEN="$("$BIN" token create --dir "$WORK/eu" --username bench)"
RUST_LOG=warn "$BIN" serve --dir "$WORK/eu" >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
new_collection() {
  curl -fsS -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    "http://127.0.0.1:$PORT/api/v1/formats" -d "{\"title\":\"$1\",\"topics\":[\"cyber-defence\"],\"members\":[\"EU\"]}" |
    "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
run_entente() { # objects phases collection-title out
  local c; c="$(new_collection "$4")"
  "$VENV/bin/python" "$TB/taxii_bench.py" --url "http://127.0.0.1:$PORT/taxii2/" --user bench --password "$TOKEN" \
    --collection "$c" --objects "$1" --phases "$2" --server-pid "$PID" --label "entente (release, SQLite)" --json-out "$3" >/dev/null
}
echo "[bench] entente: $OBJECTS objects (ingest, full read, filters, manifest)" >&2
run_entente "$OBJECTS" ingest,full,filtered,manifest "$OUT/taxii-entente-$OBJECTS.json" "bench $OBJECTS"
echo "[bench] entente: $READ_OBJECTS objects (ingest, full read)" >&2
run_entente "$READ_OBJECTS" ingest,full "$OUT/taxii-entente-$READ_OBJECTS.json" "bench $READ_OBJECTS"
echo "[bench] medallion: $OBJECTS objects (ingest)" >&2
bash "$TB/run_medallion.sh" --objects "$OBJECTS" --out "$OUT/taxii-medallion-$OBJECTS.json" -- --phases ingest >/dev/null 2>"$WORK/med1.log" || true
echo "[bench] medallion: $READ_OBJECTS objects (ingest, full read)" >&2
bash "$TB/run_medallion.sh" --objects "$READ_OBJECTS" --out "$OUT/taxii-medallion-$READ_OBJECTS.json" -- --phases ingest,full >/dev/null 2>"$WORK/med2.log" || true

"$VENV/bin/python" - "$OUT" "$OBJECTS" "$READ_OBJECTS" <<'PY' | tee "$OUT/taxii-vs-medallion.txt"
import json, sys
out, n, r = sys.argv[1], sys.argv[2], sys.argv[3]
def load(name):
    try:
        return json.load(open("%s/taxii-%s.json" % (out, name)))
    except Exception as e:
        return {}
def get(d, path):
    for k in path.split("."):
        d = d.get(k, {}) if isinstance(d, dict) else {}
    return d if isinstance(d, (int, float)) else None
en, er, mn, mr = load("entente-" + n), load("entente-" + r), load("medallion-" + n), load("medallion-" + r)
rows = [
    ("ingest obj/s (%s objects, batches of 500)" % n, get(en, "ingest.objects_per_s"), get(mn, "ingest.objects_per_s")),
    ("full read obj/s (%s objects, page 1000)" % r, get(er, "full_read.objects_per_s"), get(mr, "full_read.objects_per_s")),
    ("full read obj/s (%s objects, page 1000)" % n, get(en, "full_read.objects_per_s"), None),
    ("match[id] p50 ms (%s objects)" % n, get(en, "filtered.match_id.p50_ms"), None),
    ("added_after p50 ms (%s objects)" % n, get(en, "filtered.added_after.p50_ms"), None),
]
print("%-44s %14s %14s %10s" % ("", "entente", "medallion", "ratio"))
for label, e, m in rows:
    ratio = "%.1fx" % (e / m) if e and m else "-"
    print("%-44s %14s %14s %10s" % (label, e if e is not None else "-", m if m is not None else "-", ratio))
print("correctness: entente %s / %s; medallion %s / %s" % (
    en.get("correctness", {}).get("ok"), er.get("correctness", {}).get("ok"),
    mn.get("correctness", {}).get("ok"), mr.get("correctness", {}).get("ok")))
PY

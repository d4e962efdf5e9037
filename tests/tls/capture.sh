#!/usr/bin/env bash
# The wire holds nothing of what is published: starts the three-node demo (HTTPS, mutual TLS
# between nodes), captures the loopback traffic of its three ports with tcpdump while EU
# publishes a TLP:RED item released to {EU, JPN} with a unique title and body and JPN pulls
# it, then checks the capture holds neither string. A control line sent in clear to a port
# inside the same capture filter must be found, so an empty or broken capture cannot pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/apt.sh
need_command tcpdump tcpdump
source tests/demo.sh
read -r EU_URL EU_TOKEN JPN_URL JPN_TOKEN < <(python3 -c '
import json,sys; n=json.load(open(sys.argv[1]))["nodes"]; e=[x for x in n if x["partner"]=="EU"][0]; j=[x for x in n if x["partner"]=="JPN"][0]
print(e["url"], e["token"], j["url"], j["token"])' "$DEMO_JSON")
PORTS="$BASE or port $((BASE+1)) or port $((BASE+2))"
CONTROL_PORT=$((BASE+3))
TITLE="REDSECRET-TITLE-$(python3 -c 'import uuid;print(uuid.uuid4().hex)')"
BODY="REDSECRET-BODY-$(python3 -c 'import uuid;print(uuid.uuid4().hex)'): source HUMINT-7 identity"
PCAP="$WORK/capture.pcap"
tcpdump -i lo -s 0 -U -w "$PCAP" "tcp and (port $PORTS or port $CONTROL_PORT)" 2>"$WORK/tcpdump.log" &
TCPDUMP=$!
# tcpdump is listening once it says so.
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/tcpdump.log" && break; sleep 0.1; done
F=$(curl -sf -H "Authorization: Bearer $EU_TOKEN" "$EU_URL/api/v1/formats" | python3 -c '
import json,sys
fs=json.load(sys.stdin)
fs=fs if isinstance(fs,list) else fs.get("formats",fs)
print([f["id"] for f in fs if {"EU","JPN"} <= set(f["members"])][0])')
ID=$(curl -sf -H "Authorization: Bearer $EU_TOKEN" -H 'content-type: application/json' "$EU_URL/api/v1/items" \
  -d "{\"format_id\":\"$F\",\"kind\":\"report\",\"title\":\"$TITLE\",\"body\":\"$BODY\",\"tlp\":\"RED\",\"releasable_to\":[\"JPN\"],\"named_users\":[\"admin@JPN\"]}" \
  | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
ok=0
for _ in $(seq 1 300); do
  if curl -sf -o /dev/null -H "Authorization: Bearer $JPN_TOKEN" "$JPN_URL/api/v1/items/$ID"; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || { echo "the item never reached JPN"; exit 1; }
# The control: the title in clear through the same filter.
python3 - "$CONTROL_PORT" "$TITLE" <<'PY'
import socket, sys, threading
port, title = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(("127.0.0.1", port)); srv.listen(1)
t = threading.Thread(target=lambda: srv.accept()[0].recv(1024)); t.start()
c = socket.create_connection(("127.0.0.1", port)); c.sendall(("CONTROL " + title).encode()); c.close(); t.join(5)
PY
# tcpdump writes each packet as it sees it (-U): stop once the control line is on disk.
for _ in $(seq 1 100); do grep -aq "CONTROL $TITLE" "$PCAP" && break; sleep 0.1; done
kill "$TCPDUMP"; wait "$TCPDUMP" 2>/dev/null || true
python3 - "$PCAP" "$TITLE" "$BODY" "$BASE" <<'PY'
import sys
pcap, title, body, base = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode(), int(sys.argv[4])
data = open(pcap, "rb").read()
control = b"CONTROL " + title
assert control in data, "the capture missed the control line: it proves nothing"
data = data.replace(control, b"")
leaks = [s for s in (title, body, title[:24], body[:24]) if s in data]
print(f"capture: {len(data)} bytes of loopback traffic on the demo's ports; control found; "
      f"title/body found: {len(leaks)}")
assert not leaks, f"the wire holds published content: {leaks}"
PY
echo "capture: passed (TLS on the wire, nothing of the item's title or body)"

#!/usr/bin/env bash
# The bounded (CI) form of the WAN harness: three Entente nodes in network namespaces behind a
# shaped bridge (tests/netns/wan.py --quick; figures in bench-results/wan-quick.json).
# Runs as root (CI does). Uses ENTENTE_BIN, else target/release/entente, else target/debug/entente
# (and entente-bench beside it for the catch-up seed);
# it builds nothing. Extra arguments go to wan.py (e.g. --scheme http, --shaper nfqueue).
# The full form, printing the figures: python3 tests/netns/wan.py --full
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/netns/run.sh: must run as root (network namespaces, a bridge, qdiscs)" >&2
  exit 2
fi

# ip/tc (iproute2), tcpdump for the capture check, iptables (legacy) for the nfqueue shaper
# used when the kernel has no sch_netem, ethtool to turn segmentation offload off (per-packet loss).
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v iptables-legacy >/dev/null 2>&1 || need+=(iptables)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
if [ "${#need[@]}" -gt 0 ]; then
  # shellcheck disable=SC2207
  need=($(printf '%s\n' "${need[@]}" | sort -u))
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# wan.py bounds itself (--time-limit, 600 s for --quick) and tears everything down on exit;
# timeout(1) is the outer guard should it ever hang (SIGTERM first, so the teardown still runs).
exec timeout --kill-after=30 900 python3 tests/netns/wan.py --quick "$@"

#!/usr/bin/env python3
"""Entente over a shaped WAN: three hosts in Linux network namespaces, one node per host.

What it does
------------
Builds three "hosts" (network namespaces EU, NATO and JPN) joined by veth pairs to one bridge,
``br-ent``, in the root namespace, gives each host its own address in the RFC 2544 benchmarking
range 198.18.0.0/24 (EU .1, NATO .2, JPN .3; the bridge itself .254 so this process can reach the
nodes unshaped), shapes every host-to-host direction like the real geography (EU–JPN 230 ms RTT,
EU–NATO 20 ms, NATO–JPN 240 ms, 1 % loss per round trip = 0.5 % per direction), runs one
``entente serve`` per host on its own address and measures:

1. fan-out: K items published at EU to {EU, NATO, JPN}; per item the time until NATO and JPN
   serve it (p50/p95/max);
2. partition: JPN's bridge port down for P seconds while EU and NATO publish; heal; seconds until
   JPN holds everything; then ``entente verify`` on all three data directories;
3. forwarding: the EU–JPN link cut; an item published at EU must reach JPN through NATO;
4. capture: ``tcpdump`` on the bridge while an item with a random title and body travels EU→JPN;
   neither string may appear in the capture, while EU↔JPN packets must (proof it saw the sync).
   With ``--scheme http`` this check fails, which proves the check can fail;
5. catch-up: N seeded entries pulled EU→JPN (one ``POST /api/v1/sync``), on loopback and over the
   230 ms lossy link; the ratio loopback/WAN seconds (goal ≥ 0.5) is reported, not asserted.

Why
---
The in-process test clusters (entente-testkit) use loopback links: no latency, no loss, no real
packets on a wire. This harness runs the real binary on real network stacks, so TCP behaviour on a
long fat lossy link, TLS on the wire and the sync protocol's round trips show up in the figures.

Shaping
-------
The specified shaping is ``tc netem`` under a ``prio`` qdisc on each host's veth (per-destination
``u32`` filters; unmatched traffic, i.e. to the harness at .254, goes to an unshaped band). Some
kernels (e.g. minimal VM kernels) are built without ``sch_netem``/``sch_prio``; there
``--shaper auto`` falls back to ``nfqueue``: iptables (legacy) NFQUEUE rules on the bridge's
FORWARD path (``br_netfilter``) hand every host-to-host packet to a small userspace process (this
script, ``--shaper-child``) that drops 0.5 % and releases the rest after the one-way delay. The
packets stay in the kernel; only verdicts cross to userspace. The figures say which shaper ran.

Modes: ``--quick`` (CI: K=10, 10 s partition, N=5000) writes ``bench-results/wan-quick.json``;
``--full`` (K=100, 60 s partition, N=100000, plus a loss-free WAN catch-up) writes
``bench-results/wan.json``. Exit status: 0 when every correctness check passed, 1 when one failed,
2 when the harness cannot run (not root, missing tools). Must run as root; everything it creates
(namespaces, bridge, iptables chain, processes) is removed at exit, also on Ctrl-C/SIGTERM.

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import concurrent.futures
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# --- Topology -------------------------------------------------------------------------------
# RFC 2544 benchmarking range only: never route the nodes' traffic anywhere real.
HOSTS = {"EU": "198.18.0.1", "NATO": "198.18.0.2", "JPN": "198.18.0.3"}
ROOT_ADDR = "198.18.0.254"
PREFIX = 24
BRIDGE = "br-ent"
NODE_PORT = 7401
CATCHUP_PORT = 7411  # the catch-up pair's nodes, so they never meet the three-node cluster's
# Round-trip times of the real geography; each direction gets half (and half the loss).
RTT_MS = {frozenset(("EU", "JPN")): 230, frozenset(("EU", "NATO")): 20, frozenset(("NATO", "JPN")): 240}
LOSS_PCT_ROUND_TRIP = 1.0
NETEM_LIMIT = 100_000  # packets: large enough that the queue never caps a long fat link

MODES = {
    "quick": dict(fanout_items=10, partition_secs=10, catchup_entries=5_000, lossless_catchup=False),
    "full": dict(fanout_items=100, partition_secs=60, catchup_entries=100_000, lossless_catchup=True),
}

PID = os.getpid()


def log(msg: str) -> None:
    print(f"[wan {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for entente processes: ours minus every ENTENTE_* variable (the binary
    rejects ENTENTE_* names it does not know, ENTENTE_BIN included), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTENTE_")}
    env.setdefault("RUST_LOG", "warn")
    env.update(extra or {})
    return env


def run(cmd: list[str], *, check: bool = True, timeout: float = 120, env=None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command to completion (bounded by `timeout`), capturing its output."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, input=input)
    if check and p.returncode != 0:
        # First lines only: a Rust panic's backtrace would bury the message.
        msg = "\n".join((p.stderr.strip() or p.stdout.strip()).splitlines()[:4])
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {msg}")
    return p


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every reported figure is a measured one)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(pct / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Cleanup:
    """Undo actions run once, newest first: from `finally`, from atexit and from signal
    handlers, so namespaces, the bridge, iptables rules and processes never outlive a run."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, callable]] = []
        self._done = False
        self._lock = threading.Lock()

    def push(self, what: str, fn) -> None:
        self._actions.append((what, fn))

    def run(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        # A second Ctrl-C must not interrupt the teardown half-way.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
        while self._actions:
            what, fn = self._actions.pop()
            try:
                fn()
            except Exception as e:  # keep tearing down the rest
                print(f"[wan] cleanup: {what}: {e}", file=sys.stderr)


def stop_process(p: subprocess.Popen, name: str, grace: float = 10.0, sig=signal.SIGTERM) -> None:
    """Stop one process we started: `sig`, then SIGKILL after `grace` seconds."""
    if p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"[wan] {name} did not stop in {grace:.0f} s; killing it", file=sys.stderr)
        p.kill()
        p.wait(timeout=10)
    except ProcessLookupError:
        pass


# --- Shapers --------------------------------------------------------------------------------

NFQ_SUBSYS = 3  # NFNL_SUBSYS_QUEUE
NFQ_PACKET, NFQ_VERDICT, NFQ_CONFIG, NFQ_VERDICT_BATCH = (NFQ_SUBSYS << 8) | 0, (NFQ_SUBSYS << 8) | 1, (NFQ_SUBSYS << 8) | 2, (NFQ_SUBSYS << 8) | 3
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NF_DROP, NF_ACCEPT = 0, 1


def queue_number(src: str, dst: str) -> int:
    """One NFQUEUE per direction: 100 + 10·src + dst (hosts numbered 1..3)."""
    names = list(HOSTS)
    return 100 + 10 * (names.index(src) + 1) + (names.index(dst) + 1)


def shaper_child_main(spec_json: str) -> int:
    """The userspace delay line behind NFQUEUE (runs as its own process: no GIL contention with
    the harness's pollers). Packets stay queued in the kernel; this only sends verdicts: DROP at
    once for the lost ones, ACCEPT (batched) when a packet's one-way delay has passed. Reads
    commands on stdin (`set Q DELAY_MS LOSS_FRACTION`, `stats`); exits when stdin closes, so it
    never outlives the harness."""
    spec = json.loads(spec_json)
    params = {int(q): [d / 1000.0, loss] for q, (d, loss) in spec["queues"].items()}
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    # A deep receive buffer: a long fat link has thousands of packets in flight.
    sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
    sock.setsockopt(270, 5, 1)  # SOL_NETLINK, NETLINK_NO_ENOBUFS
    sock.bind((0, 0))
    seq = [0]

    def attr(t: int, payload: bytes) -> bytes:
        a = struct.pack("=HH", 4 + len(payload), t) + payload
        return a + b"\0" * ((4 - len(a) % 4) % 4)

    def send(msg_type: int, q: int, attrs: bytes, flags: int = NLM_F_REQUEST) -> int:
        seq[0] += 1
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(q)) + attrs
        sock.sendto(struct.pack("=IHHII", 16 + len(body), msg_type, flags, seq[0], 0) + body, (0, 0))
        return seq[0]

    # Bind each queue: metadata only (the packet id is all a verdict needs), a deep queue.
    for q in params:
        s = send(
            NFQ_CONFIG, q,
            attr(1, struct.pack(">BxH", 1, 0))  # NFQA_CFG_CMD: BIND
            + attr(2, struct.pack(">IB", 0, 1))  # NFQA_CFG_PARAMS: copy_range 0, COPY_META
            + attr(3, struct.pack(">I", int(spec.get("maxlen", 200_000)))),  # NFQA_CFG_QUEUE_MAXLEN
            NLM_F_REQUEST | NLM_F_ACK,
        )
        sock.settimeout(5)
        data = sock.recv(65536)
        _, typ, _, rseq, _ = struct.unpack_from("=IHHII", data, 0)
        code = struct.unpack_from("=i", data, 16)[0] if typ == NLMSG_ERROR else -1
        if typ != NLMSG_ERROR or rseq != s or code != 0:
            print(f"error binding queue {q}: {os.strerror(-code) if code < 0 else typ}", flush=True)
            return 1
    sock.setblocking(False)
    print("ready", flush=True)

    pending = {q: collections.deque() for q in params}
    stats = {q: [0, 0] for q in params}  # accepted, dropped
    errors: dict[int, int] = {}  # errno → count (ENOENT: the kernel flushed the packet, e.g. a port went down)
    rng = random.Random()
    stdin_fd = sys.stdin.fileno()
    inbuf = b""
    while True:
        now = time.monotonic()
        next_due = None
        for q, dq in pending.items():
            last = None
            while dq and dq[0][0] <= now:
                last = dq.popleft()[1]
                stats[q][0] += 1
            if last is not None:
                # Batch verdict: accepts every queued id up to `last` (the lost ones are gone).
                send(NFQ_VERDICT_BATCH, q, attr(2, struct.pack(">II", NF_ACCEPT, last)))
            if dq and (next_due is None or dq[0][0] < next_due):
                next_due = dq[0][0]
        timeout = 0.5 if next_due is None else max(0.0, next_due - time.monotonic())
        readable, _, _ = select.select([sock, stdin_fd], [], [], timeout)
        if sock in readable:
            for _ in range(4096):  # bounded drain, then release what is due
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                t = time.monotonic()
                off = 0
                while off + 16 <= len(data):
                    ln, typ = struct.unpack_from("=IH", data, off)
                    if ln < 16:
                        break
                    if typ == NFQ_PACKET:
                        q = socket.ntohs(struct.unpack_from("=H", data, off + 18)[0])
                        a, end, pkt = off + 20, off + ln, None
                        while a + 4 <= end:
                            alen, atype = struct.unpack_from("=HH", data, a)
                            if alen < 4:
                                break
                            if atype & 0x3FFF == 1:  # NFQA_PACKET_HDR
                                pkt = struct.unpack_from(">I", data, a + 4)[0]
                                break
                            a += (alen + 3) & ~3
                        if pkt is not None and q in params:
                            delay, loss = params[q]
                            if loss > 0 and rng.random() < loss:
                                stats[q][1] += 1
                                send(NFQ_VERDICT, q, attr(2, struct.pack(">II", NF_DROP, pkt)))
                            else:
                                pending[q].append((t + delay, pkt))
                    elif typ == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, off + 16)[0]
                        if code:
                            errors[code] = errors.get(code, 0) + 1
                    off += (ln + 3) & ~3
        if stdin_fd in readable:
            chunk = os.read(stdin_fd, 4096)
            if not chunk:
                return 0  # the harness is gone
            inbuf += chunk
            while b"\n" in inbuf:
                line, inbuf = inbuf.split(b"\n", 1)
                parts = line.decode().split()
                if parts[:1] == ["set"] and len(parts) == 4:
                    params[int(parts[1])] = [float(parts[2]) / 1000.0, float(parts[3])]
                    print("ok", flush=True)
                elif parts[:1] == ["stats"]:
                    print(json.dumps({"queues": stats, "netlink_errors": errors}), flush=True)


class Shaper:
    """Per-direction delay and loss between the hosts."""

    name = "?"

    def __init__(self, net: "Net") -> None:
        self.net = net
        self.loss_pct: dict[tuple[str, str], float] = {}  # per direction, as currently set

    def setup(self) -> None:
        raise NotImplementedError

    def _apply(self, src: str, dst: str, delay_ms: float, loss_pct: float) -> None:
        raise NotImplementedError

    def set_link(self, a: str, b: str, loss_pct_per_direction: float) -> None:
        delay = RTT_MS[frozenset((a, b))] / 2
        for s, d in ((a, b), (b, a)):
            self._apply(s, d, delay, loss_pct_per_direction)
            self.loss_pct[(s, d)] = loss_pct_per_direction

    def cut(self, a: str, b: str) -> None:
        self.set_link(a, b, 100.0)

    def restore(self, a: str, b: str) -> None:
        self.set_link(a, b, LOSS_PCT_ROUND_TRIP / 2)

    def stats(self) -> dict:
        return {}


class NetemShaper(Shaper):
    """The specified shaping: on each host's veth, a 4-band prio qdisc whose priomap sends
    everything to band 4 (unshaped: the harness at .254, ARP), and one netem child per peer
    destination selected by a u32 filter on the destination address."""

    name = "netem"

    def _band(self, src: str, dst: str) -> int:
        peers = [p for p in HOSTS if p != src]
        return peers.index(dst) + 1

    def setup(self) -> None:
        self.offload_off = bool(shutil.which("ethtool"))
        for src in HOSTS:
            ns = self.net.ns[src]
            # netem drops whole skbs: with segmentation offload one "lost packet" could be 64 KB
            # of segments. Offload off gives per-packet loss (the nfqueue path segments anyway).
            if self.offload_off:
                run(["ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tso", "off", "gso", "off"], check=False)
            run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "1:",
                 "prio", "bands", "4", "priomap"] + ["3"] * 16)
            for dst in HOSTS:
                if dst == src:
                    continue
                band = self._band(src, dst)
                delay = RTT_MS[frozenset((src, dst))] / 2
                run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "parent", f"1:{band}",
                     "handle", f"{band}0:", "netem", "delay", f"{delay}ms",
                     "loss", f"{LOSS_PCT_ROUND_TRIP / 2}%", "limit", str(NETEM_LIMIT)])
                run(["ip", "netns", "exec", ns, "tc", "filter", "add", "dev", "eth0", "parent", "1:",
                     "protocol", "ip", "prio", "1", "u32", "match", "ip", "dst", f"{HOSTS[dst]}/32",
                     "flowid", f"1:{band}"])
                self.loss_pct[(src, dst)] = LOSS_PCT_ROUND_TRIP / 2

    def _apply(self, src: str, dst: str, delay_ms: float, loss_pct: float) -> None:
        band = self._band(src, dst)
        run(["ip", "netns", "exec", self.net.ns[src], "tc", "qdisc", "change", "dev", "eth0", "parent",
             f"1:{band}", "handle", f"{band}0:", "netem", "delay", f"{delay_ms}ms",
             "loss", f"{loss_pct}%", "limit", str(NETEM_LIMIT)])

    def stats(self) -> dict:
        out = {"segmentation_offload_off": self.offload_off}
        for src in HOSTS:
            out[src] = run(["ip", "netns", "exec", self.net.ns[src], "tc", "-s", "qdisc", "show", "dev", "eth0"],
                           check=False).stdout
        return out


class NfqShaper(Shaper):
    """Fallback for kernels without sch_netem: the bridge's FORWARD path (br_netfilter) sends
    each host-to-host direction to its own NFQUEUE, served by `shaper_child_main`. Traffic to and
    from the harness (.254) is local to the root namespace, never forwarded, so never shaped."""

    name = "nfqueue"

    def __init__(self, net: "Net") -> None:
        super().__init__(net)
        self.ipt = shutil.which("iptables-legacy") or shutil.which("iptables")
        self.chain = f"ENT{PID}"
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _request(self, line: str, timeout: float = 10) -> str:
        with self._lock:
            assert self.proc and self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            return self._readline(timeout)

    def _readline(self, timeout: float) -> str:
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("the nfqueue shaper did not answer")
        return self.proc.stdout.readline().strip()

    def setup(self) -> None:
        if not self.ipt:
            raise HarnessError("no iptables (install the iptables package) and no sch_netem: cannot shape")
        queues = {}
        for s in HOSTS:
            for d in HOSTS:
                if s != d:
                    queues[queue_number(s, d)] = [RTT_MS[frozenset((s, d))] / 2, LOSS_PCT_ROUND_TRIP / 200]
                    self.loss_pct[(s, d)] = LOSS_PCT_ROUND_TRIP / 2
        errlog = open(self.net.work / "shaper.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--shaper-child", json.dumps({"queues": queues})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, text=True, bufsize=1,
        )
        self.net.cleanup.push("nfqueue shaper", lambda: self._stop())
        line = self._readline(15)
        if line != "ready":
            raise HarnessError(f"nfqueue shaper: {line or 'no answer'} (see {self.net.work / 'shaper.log'})")
        # br_netfilter: bridged IPv4 traverses iptables FORWARD only with this set.
        knob = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
        if not knob.exists():
            raise HarnessError("no br_netfilter (/proc/sys/net/bridge/bridge-nf-call-iptables): cannot shape")
        old = knob.read_text().strip()
        if old != "1":
            knob.write_text("1")
            self.net.cleanup.push("bridge-nf-call-iptables", lambda: knob.write_text(old))
        run([self.ipt, "-w", "-N", self.chain])
        self.net.cleanup.push("iptables chain", lambda: self._remove_chain(self.ipt, self.chain))
        run([self.ipt, "-w", "-I", "FORWARD", "1", "-j", self.chain])
        for s in HOSTS:
            for d in HOSTS:
                if s != d:
                    # No --queue-bypass: if the shaper dies, traffic stops rather than going unshaped.
                    run([self.ipt, "-w", "-A", self.chain, "-s", f"{HOSTS[s]}/32", "-d", f"{HOSTS[d]}/32",
                         "-j", "NFQUEUE", "--queue-num", str(queue_number(s, d))])

    @staticmethod
    def _remove_chain(ipt: str, chain: str) -> None:
        run([ipt, "-w", "-D", "FORWARD", "-j", chain], check=False)
        run([ipt, "-w", "-F", chain], check=False)
        run([ipt, "-w", "-X", chain], check=False)

    def _stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the child exits on EOF
                self.proc.wait(timeout=5)
            except Exception:
                stop_process(self.proc, "nfqueue shaper", grace=5)

    def _apply(self, src: str, dst: str, delay_ms: float, loss_pct: float) -> None:
        if self._request(f"set {queue_number(src, dst)} {delay_ms} {loss_pct / 100.0}") != "ok":
            raise RuntimeError("the nfqueue shaper refused a setting")

    def stats(self) -> dict:
        raw = json.loads(self._request("stats"))
        names = {queue_number(s, d): f"{s}->{d}" for s in HOSTS for d in HOSTS if s != d}
        return {
            "directions": {names[int(q)]: {"accepted": a, "dropped": dr} for q, (a, dr) in raw["queues"].items()},
            "netlink_errors": {os.strerror(int(k)): v for k, v in raw["netlink_errors"].items()},
        }


class HarnessError(Exception):
    """The harness cannot run here (exit 2), as opposed to a failed check (exit 1)."""


def netem_available(cleanup: Cleanup) -> bool:
    """Probe sch_prio + sch_netem on a throwaway veth pair (they may be missing from the kernel)."""
    a, b = f"vp{PID}", f"vq{PID}"
    if run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=False).returncode != 0:
        return False
    try:
        ok = run(["tc", "qdisc", "add", "dev", a, "root", "handle", "1:", "prio", "bands", "4",
                  "priomap"] + ["3"] * 16, check=False).returncode == 0
        ok = ok and run(["tc", "qdisc", "add", "dev", a, "parent", "1:1", "handle", "10:", "netem",
                         "delay", "1ms", "limit", str(NETEM_LIMIT)], check=False).returncode == 0
        return ok
    finally:
        run(["ip", "link", "del", a], check=False)


# --- Network --------------------------------------------------------------------------------

class Net:
    """The bridge, the three namespaces and their veths (and the shaper on top)."""

    def __init__(self, work: Path, cleanup: Cleanup) -> None:
        self.work = work
        self.cleanup = cleanup
        self.ns = {p: f"ent-{PID}-{p.lower()}" for p in HOSTS}
        self.port = {p: f"v{PID}-{p.lower()}"[:15] for p in HOSTS}  # root-side veth = bridge port
        self.shaper: Shaper | None = None

    @staticmethod
    def remove_stale() -> None:
        """Remove what a killed earlier run left (its pid is gone); refuse if another run lives."""
        names = run(["ip", "netns", "list"], check=False).stdout.split()
        live_owner = False
        for n in names:
            m = re.fullmatch(r"ent-(\d+)-(eu|nato|jpn)", n)
            if not m:
                continue
            if Path(f"/proc/{m.group(1)}").exists() and int(m.group(1)) != PID:
                live_owner = True
                continue
            run(["ip", "netns", "del", n], check=False)
            log(f"removed stale namespace {n}")
        if run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
            if live_owner:
                raise HarnessError(f"{BRIDGE} is in use by another running harness")
            run(["ip", "link", "del", BRIDGE], check=False)
            log(f"removed stale bridge {BRIDGE}")
        ipt = shutil.which("iptables-legacy")
        if ipt:
            rules = run([ipt, "-w", "-S"], check=False).stdout
            for chain in set(re.findall(r"^-N (ENT(\d+))$", rules, re.M)):
                if not Path(f"/proc/{chain[1]}").exists():
                    NfqShaper._remove_chain(ipt, chain[0])

    def setup(self, shaper_choice: str) -> None:
        self.remove_stale()
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        self.cleanup.push("bridge", lambda: run(["ip", "link", "del", BRIDGE], check=False))
        run(["ip", "addr", "add", f"{ROOT_ADDR}/{PREFIX}", "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])
        for p, addr in HOSTS.items():
            ns = self.ns[p]
            run(["ip", "netns", "add", ns])
            # Deleting the namespace deletes its veth end, and with it the bridge port.
            self.cleanup.push(f"namespace {ns}", lambda ns=ns: run(["ip", "netns", "del", ns], check=False))
            run(["ip", "link", "add", self.port[p], "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "link", "set", self.port[p], "master", BRIDGE, "up"])
            run(["ip", "-n", ns, "addr", "add", f"{addr}/{PREFIX}", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        if shaper_choice == "auto":
            shaper_choice = "netem" if netem_available(self.cleanup) else "nfqueue"
            if shaper_choice == "nfqueue":
                log("this kernel has no sch_netem/sch_prio: shaping with the nfqueue fallback")
        self.shaper = NetemShaper(self) if shaper_choice == "netem" else NfqShaper(self)
        self.shaper.setup()

    def port_down(self, p: str) -> None:
        run(["ip", "link", "set", self.port[p], "down"])

    def port_up(self, p: str) -> None:
        run(["ip", "link", "set", self.port[p], "up"])

    def tcp_rtt_ms(self, src: str, dst: str, port: int, samples: int = 5) -> float | None:
        """Median TCP handshake time from inside `src` to `dst` (one round trip per connect)."""
        code = (
            "import socket,sys,time\n"
            "out=[]\n"
            f"for _ in range({samples}):\n"
            "    t=time.monotonic()\n"
            "    try:\n"
            f"        s=socket.create_connection(('{HOSTS[dst]}',{port}),timeout=5); s.close()\n"
            "        out.append((time.monotonic()-t)*1000)\n"
            "    except OSError: pass\n"
            "    time.sleep(0.05)\n"
            "print(' '.join('%.2f'%x for x in out))\n"
        )
        p = run(["ip", "netns", "exec", self.ns[src], sys.executable, "-c", code], check=False, timeout=60)
        vals = [float(x) for x in p.stdout.split()]
        return percentile(vals, 50)


# --- Nodes ----------------------------------------------------------------------------------

class Node:
    """One entente node: its data directory, its process, and an HTTP(S) client for its API."""

    def __init__(self, h: "Harness", partner: str, d: Path, host: str, port: int, ns: str | None) -> None:
        self.h, self.partner, self.dir, self.host, self.port, self.ns = h, partner, d, host, port, ns
        self.url = f"{h.scheme}://{host}:{port}"
        self.proc: subprocess.Popen | None = None
        self.token = ""
        self.ctx: ssl.SSLContext | None = None
        self.tls_verified: bool | None = None
        self._local = threading.local()

    # -- CLI
    def cli(self, *args: str, env: dict | None = None, timeout: float = 300) -> str:
        return run([self.h.bin, *args], env=child_env(env), timeout=timeout).stdout

    def init(self) -> None:
        self.cli("init", "--dir", str(self.dir), "--partner", self.partner,
                 "--listen", f"{self.host}:{self.port}", "--public-url", self.url)
        m = re.search(r"^public key\s+([0-9a-f]{64})$", self.cli("id", "--dir", str(self.dir)), re.M)
        if not m:
            raise RuntimeError(f"entente id printed no public key for {self.partner}")
        self.key = m.group(1)

    def pin(self, other: "Node") -> None:
        self.cli("peer", "add", "--dir", str(self.dir), "--partner", other.partner, "--url", other.url, "--key", other.key)

    def add_admin(self) -> None:
        password = uuid.uuid4().hex
        self.cli("user", "add", "--dir", str(self.dir), "--username", "admin", "--role", "admin",
                 env={"ENTENTE_PASSWORD": password})
        m = re.search(r"ent_[A-Za-z0-9_-]+", self.cli("token", "create", "--dir", str(self.dir), "--username", "admin"))
        if not m:
            raise RuntimeError(f"no token printed for {self.partner}")
        self.token = m.group(0)

    def verify(self) -> tuple[bool, str]:
        """`entente verify` (it may run while the node serves); (passed, its last line)."""
        p = run([self.h.bin, "verify", "--dir", str(self.dir)], check=False, env=child_env(), timeout=900)
        lines = (p.stdout + p.stderr).strip().splitlines()
        return p.returncode == 0, lines[-1] if lines else ""

    # -- process
    def start(self, env: dict[str, str]) -> None:
        self.log_path = self.dir.parent / f"{self.dir.name}.log"
        logf = open(self.log_path, "ab")
        cmd = [self.h.bin, "serve", "--dir", str(self.dir)]
        if self.ns:
            cmd = ["ip", "netns", "exec", self.ns] + cmd  # `ip netns exec` execs: the pid is the node's
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, env=child_env(env), start_new_session=True)
        logf.close()
        self.h.cleanup.push(f"node {self.dir.name}", self.stop)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, f"node {self.dir.name}")
        self._local = threading.local()

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.partner} node exited {self.proc.returncode}: {self.log_tail()}")
            if self.h.scheme == "https" and self.ctx is None:
                crt = self.dir / "tls.crt"
                if not crt.exists():  # written by serve at start
                    time.sleep(0.05)
                    continue
                self.ctx = self._context(crt)
            try:
                status, _ = self.request("GET", "/healthz", timeout=2, retry=False)
                if status == 200:
                    return
            except ssl.SSLCertVerificationError as e:
                # The node's self-signed certificate is not usable as a trust anchor here:
                # fall back to an unverified context (the address is ours, on our bridge).
                log(f"{self.partner}: certificate not verifiable ({e.verify_message}); using an unverified TLS context")
                self.ctx = ssl._create_unverified_context()
                self.ctx.set_alpn_protocols(["http/1.1"])
                self.tls_verified = False
                self._local = threading.local()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.partner} at {self.url} not healthy within {timeout:.0f} s: {self.log_tail()}")

    def _context(self, crt: Path) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(crt))
        ctx.check_hostname = False  # the certificate is pinned by file, not by name
        ctx.set_alpn_protocols(["http/1.1"])  # the user-facing listener configuration
        self.tls_verified = True
        return ctx

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-n:])
        except (OSError, AttributeError):
            return "(no log)"

    # -- HTTP
    def _conn(self, timeout: float) -> http.client.HTTPConnection:
        c = getattr(self._local, "conn", None)
        if c is None:
            if self.h.scheme == "https":
                c = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ctx)
            else:
                c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self._local.conn = c
        c.timeout = timeout
        if c.sock is not None:
            c.sock.settimeout(timeout)
        return c

    def request(self, method: str, path: str, body=None, timeout: float = 30, retry: bool = True) -> tuple[int, bytes]:
        """One request on this thread's keep-alive connection; reconnects once if the server
        closed it meanwhile."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2 if retry else 1):
            c = self._conn(timeout)
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                c.close()
                self._local.conn = None
                if attempt == (1 if retry else 0):
                    raise
        raise AssertionError("unreachable")

    def post_json(self, path: str, body, timeout: float = 60):
        status, data = self.request("POST", path, body, timeout=timeout)
        if status not in (200, 201):
            raise RuntimeError(f"POST {path} at {self.partner}: HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def get_json(self, path: str, timeout: float = 30):
        status, data = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise RuntimeError(f"GET {path} at {self.partner}: HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def holds(self, item_id: str) -> bool:
        try:
            return self.request("GET", f"/api/v1/items/{item_id}", timeout=5)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def wait_holds(self, item_id: str, t0: float, deadline: float, every: float = 0.005) -> float | None:
        """Seconds from `t0` until this node serves the item, polling every `every` s until
        `deadline` (monotonic); None if it never did."""
        while time.monotonic() < deadline:
            if self.holds(item_id):
                return time.monotonic() - t0
            time.sleep(every)
        return None


# --- pcap -----------------------------------------------------------------------------------

def read_pcap(path: Path):
    """Yield (src, dst, sport, dport, seq, payload) for every IPv4/TCP packet of an Ethernet
    pcap (microsecond or nanosecond format, either byte order)."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError(f"{path}: not a pcap file")
    linktype = struct.unpack_from(e + "I", data, 20)[0]
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(e + "I", data, off + 8)[0]
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34:
            continue
        eth_type = struct.unpack_from(">H", pkt, 12)[0]
        l3 = 14
        if eth_type == 0x8100:  # one VLAN tag
            eth_type, l3 = struct.unpack_from(">H", pkt, 16)[0], 18
        if eth_type != 0x0800:
            continue
        ihl = (pkt[l3] & 0x0F) * 4
        total = struct.unpack_from(">H", pkt, l3 + 2)[0]
        if pkt[l3 + 9] != 6:
            continue
        src, dst = socket.inet_ntoa(pkt[l3 + 12: l3 + 16]), socket.inet_ntoa(pkt[l3 + 16: l3 + 20])
        t = l3 + ihl
        if len(pkt) < t + 20:
            continue
        sport, dport, seq = struct.unpack_from(">HHI", pkt, t)
        doff = (pkt[t + 12] >> 4) * 4
        end = min(len(pkt), l3 + total) if total else len(pkt)  # drop Ethernet padding
        yield src, dst, sport, dport, seq, pkt[t + doff: end]


def tcp_streams(packets) -> dict[tuple, bytes]:
    """Reassemble each TCP direction by sequence number (retransmissions overwrite in place), so a
    string split across segments is still found."""
    segs: dict[tuple, list] = collections.defaultdict(list)
    for src, dst, sport, dport, seq, payload in packets:
        if payload:
            segs[(src, sport, dst, dport)].append((seq, payload))
    out = {}
    for key, parts in segs.items():
        base = min(s for s, _ in parts)
        # Sequence numbers wrap: take offsets relative to the lowest one seen, modulo 2^32.
        if max(s for s, _ in parts) - base > 1 << 31:
            base = min(s for s, _ in parts if s >= 1 << 31)
        buf = bytearray()
        for seq, payload in sorted(parts, key=lambda p: (p[0] - base) % (1 << 32)):
            rel = (seq - base) % (1 << 32)
            if rel > 256 << 20:  # not part of this window's stream; skip rather than allocate
                continue
            if rel + len(payload) > len(buf):
                buf.extend(b"\0" * (rel + len(payload) - len(buf)))
            buf[rel: rel + len(payload)] = payload
        out[key] = bytes(buf)
    return out


# --- The harness ----------------------------------------------------------------------------

class Harness:
    def __init__(self, args) -> None:
        self.args = args
        self.mode = "full" if args.full else "quick"
        self.cfg = dict(MODES[self.mode])
        for k in ("fanout_items", "partition_secs", "catchup_entries"):
            if getattr(args, k) is not None:
                self.cfg[k] = getattr(args, k)
        self.scheme = args.scheme
        self.cleanup = Cleanup()
        self.checks: list[dict] = []
        self.results: dict = {}
        self.work = Path(tempfile.mkdtemp(prefix="entente-wan-"))
        self.keep_work = args.keep
        self.bin = ""
        self.nodes: dict[str, Node] = {}
        self.net: Net | None = None

    # -- bookkeeping
    def check(self, name: str, ok: bool, detail: str = "", expected_failure: bool = False) -> bool:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail, "expected_failure": expected_failure})
        mark = "PASS" if ok else ("FAIL (expected with --scheme http)" if expected_failure else "FAIL")
        log(f"check {name}: {mark} {detail}")
        return ok

    def phase(self, name: str, fn) -> None:
        """Run one measurement; an exception is a failed check, and the next phase still runs."""
        log(f"== {name}")
        t0 = time.monotonic()
        try:
            fn()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            traceback.print_exc()
            self.check(name, False, f"error: {e}")
        log(f"   ({name}: {time.monotonic() - t0:.1f} s)")

    # -- setup
    def prepare_binary(self) -> None:
        src = os.environ.get("ENTENTE_BIN")
        if not src:
            rel = REPO / "target/release/entente"
            src = str(rel if rel.exists() else REPO / "target/debug/entente")
        if not Path(src).is_file():
            raise HarnessError(f"no entente binary at {src} (set ENTENTE_BIN or build it)")
        # A hard link (or copy) pins this run to one build even if cargo replaces the file meanwhile.
        pinned = self.work / "entente"
        try:
            os.link(src, pinned)
        except OSError:
            shutil.copy2(src, pinned)
        self.bin = str(pinned)
        self.results["binary"] = str(Path(src).resolve())
        # The seeding tool is the benchmark binary built beside it (cargo builds both into one
        # target directory); ENTENTE_BENCH_BIN names another.
        bench = os.environ.get("ENTENTE_BENCH_BIN") or str(Path(src).with_name("entente-bench"))
        self.bench = None
        if Path(bench).is_file():
            pinned_bench = self.work / "entente-bench"
            try:
                os.link(bench, pinned_bench)
            except OSError:
                shutil.copy2(bench, pinned_bench)
            self.bench = str(pinned_bench)
        help_text = run([self.bench, "seed", "--help"], check=False, env=child_env()).returncode if self.bench else 1
        self.has_seed = help_text == 0

    def node_env(self, catchup: bool = False) -> dict[str, str]:
        env = {
            "ENTENTE_SYNC_INTERVAL_SECS": "2",
            "ENTENTE_LIMITS_PEER_REQUESTS_PER_MINUTE": "0",
            "ENTENTE_LIMITS_USER_REQUESTS_PER_MINUTE": "0",
        }
        if catchup:
            # Only the timed POST /api/v1/sync may pull: no sync at start, none in the background.
            env.update({"ENTENTE_SYNC_INTERVAL_SECS": "3600", "ENTENTE_SYNC_ON_START": "false"})
        return env

    def make_nodes(self, names: list[str], tag: str, port: int, wan: bool) -> dict[str, Node]:
        nodes = {}
        for p in names:
            host = HOSTS[p] if wan else "127.0.0.1"
            prt = port if wan else free_port()
            nodes[p] = Node(self, p, self.work / f"{tag}-{p.lower()}", host, prt, self.net.ns[p] if wan else None)
            nodes[p].init()
        for a in nodes.values():
            for b in nodes.values():
                if a is not b:
                    a.pin(b)
        for n in nodes.values():
            n.add_admin()
        return nodes

    def start_cluster(self) -> None:
        self.nodes = self.make_nodes(list(HOSTS), "wan", NODE_PORT, wan=True)
        for n in self.nodes.values():
            n.start(self.node_env())
        for n in self.nodes.values():
            n.wait_healthy()
        self.results["tls_verified_by_cert_file"] = {p: n.tls_verified for p, n in self.nodes.items()}
        # Measured round trips, to show the shaping is what it claims (TCP handshake times).
        rtts = {}
        for pair in RTT_MS:
            a, b = sorted(pair)
            rtts[f"{a}-{b}"] = self.net.tcp_rtt_ms(a, b, NODE_PORT)
        self.results["measured_rtt_ms"] = rtts
        # A format with all three as members, created at EU; items need it at every member.
        eu = self.nodes["EU"]
        f = eu.post_json("/api/v1/formats", {"title": "WAN harness", "topics": ["maritime-security"], "members": ["NATO", "JPN"]})
        self.format_id = f["id"]
        deadline = time.monotonic() + 120
        for p in ("NATO", "JPN"):
            while time.monotonic() < deadline:
                try:
                    if any(x.get("id") == self.format_id for x in self.nodes[p].get_json("/api/v1/formats")):
                        break
                except (OSError, RuntimeError, http.client.HTTPException):
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError(f"the format did not reach {p} within 120 s")

    def publish(self, at: str, to: list[str], title: str | None = None, body: str | None = None) -> str:
        n = self.nodes[at]
        r = n.post_json("/api/v1/items", {
            "format_id": self.format_id, "kind": "report",
            "title": title or f"WAN {at} {uuid.uuid4().hex[:8]}",
            "body": body or "Synthetic harness report; nothing real.",
            "tlp": "AMBER", "releasable_to": [p for p in to if p != at],
        })
        return r["id"]

    # -- 1. fan-out
    def fanout(self) -> None:
        k = self.cfg["fanout_items"]
        lat = {"NATO": [], "JPN": []}
        publish_ms = []
        missing = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for i in range(k):
                t0 = time.monotonic()
                item = self.publish("EU", ["NATO", "JPN"])
                publish_ms.append((time.monotonic() - t0) * 1000)
                deadline = time.monotonic() + 60
                futs = {p: pool.submit(self.nodes[p].wait_holds, item, t0, deadline) for p in lat}
                for p, fut in futs.items():
                    s = fut.result(timeout=90)
                    if s is None:
                        missing += 1
                    else:
                        lat[p].append(s * 1000)
        res = {"items": k, "publish_ms": summary(publish_ms)}
        for p, v in lat.items():
            res[p] = summary(v)
        self.results["fanout"] = res
        self.check("fan-out reaches NATO and JPN", missing == 0, f"{missing} of {2 * k} deliveries missing after 60 s")

    # -- 2. partition
    def partition(self) -> None:
        secs = self.cfg["partition_secs"]
        items = []
        self.net.port_down("JPN")
        down_at = time.monotonic()
        try:
            # A few items from each side while JPN is away, spread over the partition.
            for i in range(3):
                items.append(self.publish("EU", ["NATO", "JPN"]))
                items.append(self.publish("NATO", ["EU", "JPN"]))
                time.sleep(min(1.0, secs / 6))
            time.sleep(max(0.0, down_at + secs - time.monotonic()))
        finally:
            self.net.port_up("JPN")
        healed = time.monotonic()
        bound = 180
        deadline = healed + bound
        pending = list(items)
        while pending and time.monotonic() < deadline:
            pending = [i for i in pending if not self.nodes["JPN"].holds(i)]
            if pending:
                time.sleep(0.02)
        converged = None if pending else time.monotonic() - healed
        # The origins must hold each other's items too. They are polled within the same bound
        # (a push lost to the 1 % loss arrives with the next pull): a single look right after
        # JPN converged raced that pull and failed once in CI with every item on its way.
        others = [(p, i) for p in ("EU", "NATO") for i in items]
        while others and time.monotonic() < deadline:
            others = [(p, i) for (p, i) in others if not self.nodes[p].holds(i)]
            if others:
                time.sleep(0.02)
        others_ok = not others
        verify = {}
        for p, n in self.nodes.items():
            ok, last = n.verify()
            verify[p] = {"ok": ok, "last_line": last}
        self.results["partition"] = {
            "seconds_down": secs, "items": len(items), "heal_to_converged_s": converged,
            "verify": verify,
        }
        self.check("partition heals: JPN converges", converged is not None,
                   f"{len(pending)} of {len(items)} items missing at JPN {bound} s after the heal" if pending else f"{converged:.2f} s after the heal")
        self.check("partition: EU and NATO hold every item", others_ok,
                   f"{len(others)} missing {bound} s after the heal" if others else "")
        self.check("partition: every chain verifies", all(v["ok"] for v in verify.values()),
                   "; ".join(f"{p}: {v['last_line']}" for p, v in verify.items()))

    # -- 3. forwarding
    def forwarding(self) -> None:
        self.net.shaper.cut("EU", "JPN")
        try:
            t0 = time.monotonic()
            item = self.publish("EU", ["NATO", "JPN"])
            bound = 180
            s = self.nodes["JPN"].wait_holds(item, t0, t0 + bound, every=0.01)
            nato = self.nodes["NATO"].holds(item)
        finally:
            self.net.shaper.restore("EU", "JPN")
        self.results["forwarding"] = {"eu_to_jpn_via_nato_s": s, "nato_holds": nato}
        self.check("forwarding EU→NATO→JPN with EU–JPN cut", s is not None,
                   f"{s:.2f} s" if s is not None else f"not at JPN after {bound} s")

    # -- 4. capture
    def capture(self) -> None:
        if not shutil.which("tcpdump"):
            raise HarnessError("tcpdump is missing (tests/netns/run.sh installs it)")
        pcap = self.work / "sync.pcap"
        errf = open(self.work / "tcpdump.log", "w")
        # -U: write each packet at once; -s 0: whole packets; promiscuous (the default) so the
        # bridge device sees frames forwarded between its ports, not just its own.
        td = subprocess.Popen(["tcpdump", "-i", BRIDGE, "-U", "-s", "0", "-n", "-w", str(pcap)],
                              stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True)
        self.cleanup.push("tcpdump", lambda: stop_process(td, "tcpdump", grace=5, sig=signal.SIGINT))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "listening on" not in (self.work / "tcpdump.log").read_text():
            if td.poll() is not None:
                raise RuntimeError(f"tcpdump exited: {(self.work / 'tcpdump.log').read_text()}")
            time.sleep(0.05)
        title = f"capture-title-{uuid.uuid4()}"
        body = f"capture-body-{uuid.uuid4()}"
        # Positive control: a random string sent in the clear EU→JPN during the same capture. The
        # detector must find it, or a "not found" for the item would prove nothing.
        control = f"capture-control-{uuid.uuid4()}"
        self.send_cleartext("EU", "JPN", control)
        t0 = time.monotonic()
        item = self.publish("EU", ["JPN"], title=title, body=body)
        s = self.nodes["JPN"].wait_holds(item, t0, t0 + 120, every=0.01)
        time.sleep(1.0)  # let the pull's last segments and acks land in the capture
        stop_process(td, "tcpdump", grace=10, sig=signal.SIGINT)
        errf.close()
        needles = {"title": title.encode(), "body": body.encode()}
        control_b = control.encode()
        packets = list(read_pcap(pcap))
        streams = tcp_streams(packets)
        nodes_addrs = set(HOSTS.values())
        eu, jpn = HOSTS["EU"], HOSTS["JPN"]
        eu_jpn = [p for p in packets if {p[0], p[1]} == {eu, jpn}]
        eu_jpn_payload = sum(len(p[5]) for p in eu_jpn)
        raw = pcap.read_bytes()
        # Between the nodes: the claim (the sync never carries the item in the clear).
        found_sync = {k: any(v in data for (a, _, b, _), data in streams.items() if a in nodes_addrs and b in nodes_addrs)
                      for k, v in needles.items()}
        # Anywhere in the file, the harness's own API calls included.
        found_any = {k: v in raw or any(v in data for data in streams.values()) for k, v in needles.items()}
        control_found = any(control_b in data for (a, _, b, _), data in streams.items() if (a, b) == (eu, jpn))
        self.results["capture"] = {
            "control_found": control_found,
            "pcap_bytes": len(raw), "packets_tcp": len(packets), "eu_jpn_packets": len(eu_jpn),
            "eu_jpn_payload_bytes": eu_jpn_payload, "arrived_at_jpn_s": s,
            "found_in_node_to_node_streams": found_sync, "found_anywhere": found_any,
        }
        self.check("capture: item reached JPN", s is not None)
        self.check("capture: a cleartext control string EU→JPN is found (the detector works)", control_found)
        self.check("capture: the bridge saw EU↔JPN traffic", len(eu_jpn) > 0 and eu_jpn_payload > 0,
                   f"{len(eu_jpn)} packets, {eu_jpn_payload} payload bytes")
        http_mode = self.scheme == "http"
        self.check("capture: no title/body bytes between nodes", not any(found_sync.values()),
                   f"found {[k for k, v in found_sync.items() if v]}", expected_failure=http_mode)
        if not http_mode:
            self.check("capture: no title/body bytes anywhere in the pcap", not any(found_any.values()),
                       f"found {[k for k, v in found_any.items() if v]}")

    def send_cleartext(self, src: str, dst: str, text: str, port: int = 7499) -> None:
        """Send `text` over plain TCP from host `src` to host `dst` (a listener there reads it),
        behind 1400 bytes of padding so it likely straddles two segments (reassembly exercised)."""
        listener = subprocess.Popen(
            ["ip", "netns", "exec", self.net.ns[dst], sys.executable, "-c",
             "import socket\n"
             f"s=socket.create_server(('{HOSTS[dst]}',{port})); s.settimeout(20)\n"
             "c,_=s.accept(); c.settimeout(20)\n"
             "while c.recv(65536): pass\n"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            code = ("import socket,sys,time\n"
                    "for _ in range(100):\n"
                    "    try:\n"
                    f"        c=socket.create_connection(('{HOSTS[dst]}',{port}),timeout=10); break\n"
                    "    except OSError: time.sleep(0.1)\n"
                    f"c.sendall(b'x'*1400+{text.encode()!r}); c.close()\n")
            run(["ip", "netns", "exec", self.net.ns[src], sys.executable, "-c", code], timeout=60)
            listener.wait(timeout=30)
        finally:
            stop_process(listener, "control listener", grace=2)

    # -- 5. catch-up
    def catchup(self) -> None:
        n = self.cfg["catchup_entries"]
        if not self.has_seed:
            self.results["catchup"] = {"skipped": "no entente-bench binary beside entente"}
            log("catch-up skipped: no entente-bench binary beside entente")
            return
        # Free the CPU (two cores) for the measured pair.
        for node in self.nodes.values():
            node.stop()
        res = {"entries": n, "page_size": self.args.catchup_page_size or "node default"}
        res["loopback"] = self.catchup_once(n, "loop", wan=False)
        res["wan"] = self.catchup_once(n, "wanc", wan=True)
        if self.cfg["lossless_catchup"]:
            self.net.shaper.set_link("EU", "JPN", 0.0)
            try:
                res["wan_lossless"] = self.catchup_once(n, "wanl", wan=True)
            finally:
                self.net.shaper.restore("EU", "JPN")
        lb, wn = res["loopback"].get("seconds"), res["wan"].get("seconds")
        res["ratio_loopback_over_wan"] = (lb / wn) if lb and wn else None
        res["goal_ratio"] = 0.5
        self.results["catchup"] = res

    def catchup_once(self, n: int, tag: str, wan: bool) -> dict:
        what = "WAN" if wan else "loopback"
        nodes = self.make_nodes(["EU", "JPN"], tag, CATCHUP_PORT, wan=wan)
        eu, jpn = nodes["EU"], nodes["JPN"]
        t0 = time.monotonic()
        run([self.bench, "seed", "--dir", str(eu.dir), "--audience", "EU,JPN", "--entries", str(n)],
            env=child_env(), timeout=3600)
        seed_s = time.monotonic() - t0
        env = self.node_env(catchup=True)
        if self.args.catchup_page_size:
            env["ENTENTE_SYNC_PAGE_SIZE"] = str(self.args.catchup_page_size)
        for x in (eu, jpn):
            x.start(env)
        try:
            for x in (eu, jpn):
                x.wait_healthy()
            t0 = time.monotonic()
            reports = jpn.post_json("/api/v1/sync", None, timeout=3600)
            secs = time.monotonic() - t0
            applied = sum(int(r.get("entries_applied") or 0) for r in reports)
            ok_verify, last = jpn.verify()
        finally:
            for x in (eu, jpn):
                x.stop()
        out = {"seconds": secs, "entries_applied": applied, "entries_per_second": applied / secs if secs else None,
               "seed_seconds": seed_s, "receiver_verifies": ok_verify}
        if wan:
            out["loss_pct_per_direction"] = self.net.shaper.loss_pct.get(("EU", "JPN"))
        # The seed files its items under a format of its own: the charter is the log's first entry.
        want = n + 1
        self.check(f"catch-up {what}{' lossless' if tag == 'wanl' else ''}: JPN applied all {want} (format + {n} items)", applied == want,
                   f"{applied} applied in {secs:.1f} s; reports {json.dumps(reports)[:300]}" if applied != want else f"{secs:.1f} s")
        self.check(f"catch-up {what}{' lossless' if tag == 'wanl' else ''}: receiver verifies", ok_verify, last)
        return out

    # -- the run
    def run(self) -> bool:
        log(f"work dir {self.work}")
        self.prepare_binary()
        log(f"binary {self.results['binary']} (bench seed: {'yes' if self.has_seed else 'no'}); scheme {self.scheme}; mode {self.mode}")
        self.net = Net(self.work, self.cleanup)
        self.net.setup(self.args.shaper)
        self.results.update({
            "mode": self.mode, "scheme": self.scheme, "shaper": self.net.shaper.name,
            "config": self.cfg,
            "rtt_ms": {"-".join(sorted(k)): v for k, v in RTT_MS.items()},
            "loss_pct_round_trip": LOSS_PCT_ROUND_TRIP,
        })
        log(f"network up: {BRIDGE} {ROOT_ADDR}/{PREFIX}, namespaces {', '.join(self.net.ns.values())}; shaper {self.net.shaper.name}")
        cluster_ok = True
        try:
            self.start_cluster()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            traceback.print_exc()
            hint = ""
            if self.scheme == "http" and "loopback" in str(e):
                hint = " (this binary serves plain HTTP on loopback only: use --scheme https)"
            self.check("three-node cluster starts", False, str(e) + hint)
            cluster_ok = False
        if cluster_ok:
            log(f"measured RTT (TCP handshake, ms): {self.results['measured_rtt_ms']}")
            self.phase("fan-out", self.fanout)
            self.phase("partition", self.partition)
            self.phase("forwarding", self.forwarding)
            self.phase("capture", self.capture)
        self.phase("catch-up", self.catchup)
        try:
            self.results["shaper_stats"] = self.net.shaper.stats()
        except Exception as e:
            self.results["shaper_stats"] = {"error": str(e)}
        ok = all(c["ok"] for c in self.checks)
        self.results["checks"] = self.checks
        self.results["ok"] = ok
        self.report()
        return ok

    def report(self) -> None:
        out = REPO / "bench-results" / ("wan.json" if self.mode == "full" else "wan-quick.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.results, indent=2) + "\n")
        r = self.results
        ms = lambda v: "—" if v is None else f"{v:.0f} ms"
        sec = lambda v: "—" if v is None else f"{v:.2f} s"
        lines = [
            "",
            f"Entente WAN harness: {r['mode']}, {r['scheme']}, shaper {r['shaper']}",
            f"binary {r['binary']}",
            "",
            "link        RTT set   RTT measured (TCP handshake, median)",
        ]
        for pair, v in r["rtt_ms"].items():
            lines.append(f"  {pair:<10}{v:>4} ms   {ms(r.get('measured_rtt_ms', {}).get(pair))}")
        lines.append(f"  loss {r['loss_pct_round_trip']} % per round trip ({r['loss_pct_round_trip'] / 2} % per direction)")
        if "fanout" in r:
            f = r["fanout"]
            lines += ["", f"fan-out EU → all ({f['items']} items)   p50       p95       max"]
            for p in ("NATO", "JPN"):
                s = f[p]
                lines.append(f"  visible at {p:<5}                {ms(s['p50_ms']):>9} {ms(s['p95_ms']):>9} {ms(s['max_ms']):>9}")
            s = f["publish_ms"]
            lines.append(f"  publish at EU (POST)            {ms(s['p50_ms']):>9} {ms(s['p95_ms']):>9} {ms(s['max_ms']):>9}")
        if "partition" in r:
            p = r["partition"]
            lines += ["", f"partition: JPN down {p['seconds_down']} s, {p['items']} items; heal → converged {sec(p['heal_to_converged_s'])}; "
                      + "verify " + ", ".join(f"{k} {'ok' if v['ok'] else 'FAILED'}" for k, v in p["verify"].items())]
        if "forwarding" in r:
            lines.append(f"forwarding EU → NATO → JPN (EU–JPN cut): {sec(r['forwarding']['eu_to_jpn_via_nato_s'])}")
        if "capture" in r:
            c = r["capture"]
            yn = lambda d: ", ".join(f"{k} {'FOUND' if v else 'absent'}" for k, v in d.items())
            lines.append(f"capture on {BRIDGE}: {c['eu_jpn_packets']} EU↔JPN packets ({c['eu_jpn_payload_bytes']} payload bytes); "
                         f"cleartext control {'found' if c['control_found'] else 'NOT found'}")
            lines.append(f"  item between nodes: {yn(c['found_in_node_to_node_streams'])}; anywhere in the pcap: {yn(c['found_anywhere'])}")
        if "catchup" in r:
            c = r["catchup"]
            if "skipped" in c:
                lines.append(f"catch-up: skipped: {c['skipped']}")
            else:
                ratio = c.get("ratio_loopback_over_wan")
                line = (f"catch-up {c['entries']} entries EU → JPN: loopback {sec(c['loopback'].get('seconds'))}, "
                        f"WAN {sec(c['wan'].get('seconds'))}")
                if "wan_lossless" in c:
                    line += f", WAN without loss {sec(c['wan_lossless'].get('seconds'))}"
                if ratio is not None:
                    line += f"; loopback/WAN {ratio:.2f} (goal ≥ 0.50)"
                lines.append(line)
        lines += ["", "checks:"]
        for c in self.checks:
            mark = "ok  " if c["ok"] else ("FAIL (expected with --scheme http)" if c["expected_failure"] else "FAIL")
            lines.append(f"  {mark} {c['name']}" + (f" — {c['detail']}" if c["detail"] and not c["ok"] else ""))
        lines.append(f"\nwritten to {out}")
        print("\n".join(lines), flush=True)


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
            "max_ms": max(values) if values else None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="the bounded CI form (default)")
    g.add_argument("--full", action="store_true", help="the full benchmark (K=100, 60 s partition, N=100000)")
    ap.add_argument("--scheme", choices=["https", "http"], default="https",
                    help="the nodes' URL scheme (http only for binaries without TLS; the capture check then fails)")
    ap.add_argument("--shaper", choices=["auto", "netem", "nfqueue"], default="auto",
                    help="netem (specified), nfqueue (userspace fallback for kernels without netem), auto: netem if the kernel has it")
    ap.add_argument("--fanout-items", type=int, dest="fanout_items", help="override K")
    ap.add_argument("--partition-secs", type=int, dest="partition_secs", help="override the partition length")
    ap.add_argument("--catchup-entries", type=int, dest="catchup_entries", help="override N")
    ap.add_argument("--catchup-page-size", type=int, help="sync page size of the catch-up nodes (default: the node's)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory even when everything passed")
    ap.add_argument("--time-limit", type=int, default=None, help="abort (and clean up) after this many seconds (quick 600, full 10800)")
    ap.add_argument("--shaper-child", metavar="SPEC", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.shaper_child:
        return shaper_child_main(args.shaper_child)
    if os.geteuid() != 0:
        print("wan.py: must run as root (it creates network namespaces, a bridge, qdiscs and firewall rules)", file=sys.stderr)
        return 2
    missing = [t for t in ("ip", "tc") if not shutil.which(t)]
    if missing:
        print(f"wan.py: missing {', '.join(missing)} (install iproute2; tests/netns/run.sh does)", file=sys.stderr)
        return 2

    h = Harness(args)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # A hard bound on the whole run: SIGALRM raises like a signal, and the teardown runs.
    limit = args.time_limit or (10800 if args.full else 600)
    signal.signal(signal.SIGALRM, lambda s, f: (log(f"time limit of {limit} s reached; aborting"), on_signal(s, f)))
    signal.alarm(limit)
    atexit.register(h.cleanup.run)
    ok = False
    try:
        ok = h.run()
        return 0 if ok else 1
    except HarnessError as e:
        print(f"wan.py: cannot run: {e}", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)
        h.cleanup.run()
        if ok and not h.keep_work:
            shutil.rmtree(h.work, ignore_errors=True)
        else:
            print(f"work directory kept: {h.work}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

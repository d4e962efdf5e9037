#!/usr/bin/env python3
"""Run each entente-guard workload under callgrind, read each phase's instruction count (the
binary calls `phase_mark` where a phase starts; `--dump-before` makes callgrind dump there) and
its peak heap (printed by the binary), and compare with the committed baseline."""
import glob, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.path.join(HERE, "baseline.json")
WORKLOADS = ["sync", "import", "alerts"]
TOLERANCE = 0.10
# A few megabytes of heap move with how threads interleave; smaller growth never fails.
HEAP_SLACK = 1 << 20


def run(binary, workload):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        p = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=*phase_mark*",
             "--callgrind-out-file=" + out, binary, workload],
            capture_output=True, text=True)
        if p.returncode != 0:
            err = "\n".join(l for l in p.stderr.splitlines() if not l.startswith("=="))
            sys.exit("entente-guard %s failed (exit %d):\n%s" % (workload, p.returncode, err[:3000]))
        phases = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
        def summary(path):
            with open(path) as f:
                m = re.search(r"^summary: (\d+)", f.read(), re.M)
            if not m:
                sys.exit("no summary in " + path)
            return int(m.group(1))
        # Part 1 is the set-up before the first phase; parts 2.. are the phases; the last
        # phase is in the file without a part number (the dump at exit).
        parts = sorted(glob.glob(out + ".*"), key=lambda x: int(x.rsplit(".", 1)[1]))
        counts = [summary(x) for x in parts[1:]] + [summary(out)]
        if len(counts) != len(phases):
            sys.exit("%s: %d phases printed, %d callgrind parts" % (workload, len(phases), len(counts)))
        return {"%s/%s" % (workload, ph["phase"]): {"instructions": n, "peak_heap_bytes": ph["peak_heap_bytes"]}
                for ph, n in zip(phases, counts)}


def main():
    binary, update = sys.argv[1], "--update" in sys.argv[2:]
    figures = {}
    for w in WORKLOADS:
        figures.update(run(binary, w))
    base = {}
    if os.path.exists(BASELINE):
        with open(BASELINE) as f:
            base = json.load(f)["phases"]
    failed = []
    print("%-20s %16s %16s %8s   %14s %14s %8s" % ("phase", "instructions", "baseline", "change",
                                                  "peak heap", "baseline", "change"))
    for k, v in figures.items():
        b = base.get(k)
        row = [k, "{:,}".format(v["instructions"])]
        for metric in ("instructions", "peak_heap_bytes"):
            if b is None:
                cells = ["-", "new"]
            else:
                change = v[metric] / b[metric] - 1
                cells = ["{:,}".format(b[metric]), "%+.1f%%" % (100 * change)]
                grew = v[metric] - b[metric]
                if change > TOLERANCE and (metric == "instructions" or grew > HEAP_SLACK):
                    failed.append("%s %s grew %+.1f%% (%s -> %s)" % (k, metric, 100 * change, b[metric], v[metric]))
            if metric == "instructions":
                row += cells
            else:
                row += ["{:,}".format(v[metric])] + cells
        print("%-20s %16s %16s %8s   %14s %14s %8s" % tuple(row))
    missing = [k for k in base if k not in figures]
    os.makedirs("bench-results", exist_ok=True)
    with open("bench-results/perf-guard.json", "w") as f:
        json.dump({"tolerance": TOLERANCE, "phases": figures, "baseline": base}, f, indent=2)
        f.write("\n")
    if update:
        with open(BASELINE, "w") as f:
            json.dump({"note": "Instruction counts (callgrind) and peak heap of tests/perf-guard/run.sh; "
                               "update with --update in a commit that says why.",
                       "phases": figures}, f, indent=2)
            f.write("\n")
        print("baseline written to", BASELINE)
        return
    if missing:
        failed.append("phases in the baseline but not measured: %s" % ", ".join(missing))
    if not base:
        failed.append("no baseline: run with --update and commit it")
    if failed:
        print("\nPERFORMANCE GUARD FAILED (tolerance %d%%):" % (100 * TOLERANCE))
        for f in failed:
            print("  " + f)
        print("If the growth is intended, run `bash tests/perf-guard/run.sh --update` and say why in the commit.")
        sys.exit(1)
    print("\nperformance guard: every phase within %d%% of its baseline" % (100 * TOLERANCE))


main()

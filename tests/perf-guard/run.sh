#!/usr/bin/env bash
# The performance regression guard: small fixed runs of the hot paths (publish and sync of
# 20,000 entries over mutual TLS, import of 20,000 STIX objects, a TAXII read of 20 pages of
# 1,000, 50 alerts to two recipients with receipts and acknowledgements) under valgrind's
# callgrind, which counts instructions, so a noisy machine cannot fool it. Each phase's
# instruction count and peak heap are compared with tests/perf-guard/baseline.json; the guard
# fails when one grows by more than 10 % and prints every figure (also written to
# bench-results/perf-guard.json).
#   bash tests/perf-guard/run.sh            # check
#   bash tests/perf-guard/run.sh --update   # write the baseline (commit it and say why)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/apt.sh
need_command valgrind valgrind
# Release build: the baseline's counts are of optimised code.
cargo build --release --quiet -p entente-testkit --bin entente-guard
python3 tests/perf-guard/guard.py target/release/entente-guard "$@"

#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS each (default 60) and fails
# if any finds a crash. Stable Rust, so `--sanitizer none`: libFuzzer's coverage guidance
# without ASan (safe Rust needs no memory sanitizer; panics, overflows and aborts are caught).
# Corpora start from fuzz/seeds/<target> plus the real material in ../shared/data and live in
# target/fuzz-corpus (not committed). A crash input is kept in fuzz/artifacts/<target>/.
# Usage: bash tests/fuzz/run.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
SECS="${FUZZ_SECONDS:-60}"
DATA="${ENTENTE_SHARED_DATA:-$ROOT/../shared/data}"
[ -d "$DATA/stix" ] || { echo "no test material at $DATA (set ENTENTE_SHARED_DATA)" >&2; exit 1; }
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(stix_bundle taxii_query misp_import sync_page)
CORPUS="$ROOT/target/fuzz-corpus"
for t in "${TARGETS[@]}"; do
  mkdir -p "$CORPUS/$t"
  cp -n fuzz/seeds/"$t"/* "$CORPUS/$t/" 2>/dev/null || true
done
cp -n "$DATA"/stix/*.json "$CORPUS/stix_bundle/" 2>/dev/null || true
cp -n "$DATA"/misp/*.json "$CORPUS/misp_import/" 2>/dev/null || true

cd fuzz
cargo fuzz build --sanitizer none
mkdir -p "$ROOT/target/fuzz-logs"
for t in "${TARGETS[@]}"; do
  echo "== fuzz $t for ${SECS}s"
  LOG="$ROOT/target/fuzz-logs/$t.log"
  status=0
  cargo fuzz run --sanitizer none "$t" "$CORPUS/$t" -- \
    -max_total_time="$SECS" -max_len=262144 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$LOG" 2>&1 || status=$?
  grep -E "DONE|stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb" "$LOG" || true
  if [ "$status" -ne 0 ]; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written|deadly signal" "$LOG" | head -20 >&2 || true
    echo "fuzz target $t failed (exit $status; input kept in fuzz/artifacts/$t/, log $LOG)" >&2
    exit 1
  fi
done

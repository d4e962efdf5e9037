#!/usr/bin/env bash
# Runs the end-to-end browser tests: installs Debian's chromium and npm's playwright-core (no
# browser download), starts a three-node demo on free loopback ports, runs e2e.mjs against it
# and stops the demo. Screenshots land in target/browser-screenshots. Exit status is the test's.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/apt.sh
need_command chromium chromium
# Japanese (and later Korean) text in the screenshots needs a CJK font; Debian's chromium has
# none by default and would draw empty boxes.
need_package fonts-noto-cjk
(cd tests/browser && npm install --no-audit --no-fund --silent)
source tests/demo.sh
# Only this run's screenshots: earlier runs' pages (other ids) would mislead whoever looks.
rm -rf target/browser-screenshots && mkdir -p target/browser-screenshots
node tests/browser/e2e.mjs "$DEMO_JSON" target/browser-screenshots || { tail -50 "$WORK/demo.log"; exit 1; }

#!/usr/bin/env bash
# Runs the TAXII 2.1 interoperability suite: creates a Python venv with the OASIS client and
# validator (from PyPI), starts a three-node demo on free loopback ports, runs suite.py
# against it, and stops the demo. Exit status is the suite's.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${VENV:-target/pyvenv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import taxii2client, stix2validator, requests' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q taxii2-client stix2-validator stix2 requests
fi
source tests/demo.sh
"$VENV/bin/python" tests/taxii/suite.py "$DEMO_JSON"

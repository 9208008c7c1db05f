#!/usr/bin/env bash
# Real-browser tests of the learning-profile explorer only (tests/test_browser.py): JupyterLab runs
# the explorer notebook and Debian's Chromium moves its slider; the static HTML export is opened too.
# Screenshots land in outputs/browser/. `make test` runs these as part of the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure_chromium.sh
[ -x /usr/bin/chromium ] || { echo "Debian's chromium is required: sudo apt-get install chromium" >&2; exit 1; }
exec .venv/bin/python -m pytest -m browser tests/test_browser.py "$@"

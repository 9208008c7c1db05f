#!/usr/bin/env bash
# Real-browser tests only (tests/test_browser.py): JupyterLab at a repository-like root over fake demo runs,
# the explorer notebook opened by double-click and run with no variable set, its executed copy opened with
# no kernel, each analysis notebook opened the same way and run all with no error output, and the static HTML
# export driven through its controls, in Debian's Chromium.
# Screenshots land in outputs/browser/. `make test` runs these as part of the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure_chromium.sh
[ -x /usr/bin/chromium ] || { echo "Debian's chromium is required: sudo apt-get install chromium" >&2; exit 1; }
exec .venv/bin/python -m pytest -m browser tests/test_browser.py "$@"

#!/usr/bin/env bash
# Make Debian's Chromium available for the real-browser tests (tests/test_browser.py).
# Playwright's own browser download is never used (it needs the internet). Installs the Debian
# package when missing and we are root; otherwise says how, and the browser tests skip.
set -uo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests (apt-get)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "could not install chromium: the browser tests will be skipped" >&2
else
    echo "Debian's chromium is missing (sudo apt-get install chromium): the browser tests will be skipped" >&2
fi
exit 0

#!/usr/bin/env bash
# The README's test command: sets everything up and runs the tests. The page test of `finecliper serve` drives
# Debian's Chromium; it is installed here (quietly, only when no browser that test accepts is present, and when
# apt-get can), else that test is skipped with its reason. The browsers looked for are tests/browser.py's.
set -euo pipefail
cd "$(dirname "$0")/.."
has_browser() {
  [ -n "${FINECLIPER_BROWSER:-}" ] && return 0
  command -v chromium || command -v chromium-browser || command -v google-chrome || command -v google-chrome-stable
}
if ! has_browser >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "test: could not install chromium; the browser test will be skipped" >&2
fi
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"

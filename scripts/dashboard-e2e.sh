#!/usr/bin/env bash
# The browser tests of the dashboard and of the hosted pay pages (crates/web/e2e/*.test.js): headless Chromium (Debian's `chromium` package; a test tool's own
# browser download cannot work here) driven by playwright-core, against a real `holdfast serve` on
# SQLite and on PostgreSQL. Installs what it needs; under CI=true, anything missing is a failure,
# never a skip. Screenshots of failures land in crates/web/e2e/artifacts/, and a screenshot of
# every page in crates/web/e2e/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "dashboard-e2e: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || true
  apt-get install -y -q chromium || fail "could not install Debian's chromium"
fi
command -v node >/dev/null 2>&1 || fail "node is needed (Node 18 or later) to run the browser tests"
command -v psql >/dev/null 2>&1 || fail "psql is needed to create the PostgreSQL test database"

cargo build --quiet -p holdfast
(cd crates/web/e2e && npm ci --no-audit --no-fund --loglevel=error)
export HOLDFAST_BIN="$PWD/target/debug/holdfast"
cd crates/web/e2e
node --test --test-concurrency=1

#!/usr/bin/env bash
# Runs localstripe (a Stripe emulator from PyPI) bound to 127.0.0.1 only, for side-by-side
# benchmarks and the Stripe connector's tests. Installs it into a throwaway virtualenv the first
# time. Usage: scripts/localstripe.sh [PORT]       run it on PORT (default 8420)
#              scripts/localstripe.sh --install-only  only create the virtualenv (CI; the tests
#                                                     start their own instances from it)
set -euo pipefail
venv="${LOCALSTRIPE_VENV:-${TMPDIR:-/tmp}/holdfast-localstripe-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import localstripe' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check localstripe==1.15.10
fi
if [ "${1:-}" = "--install-only" ]; then
  echo "localstripe $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("localstripe"))') in $venv"
  exit 0
fi
port="${1:-8420}"
exec "$venv/bin/python" - "$port" <<'PY'
import logging, socket, sys
from aiohttp import web
from localstripe.server import app
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
web.run_app(app, sock=sock, print=None)
PY

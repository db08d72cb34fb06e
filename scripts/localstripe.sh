#!/usr/bin/env bash
# Runs localstripe (a Stripe mock from PyPI) for side-by-side benchmarks, bound to 127.0.0.1 only.
# Installs it into a throwaway virtualenv the first time. Usage: scripts/localstripe.sh [PORT]
set -euo pipefail
port="${1:-8420}"
venv="${LOCALSTRIPE_VENV:-${TMPDIR:-/tmp}/holdfast-localstripe-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check localstripe==1.15.10 || "$venv/bin/pip" install --quiet localstripe
fi
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

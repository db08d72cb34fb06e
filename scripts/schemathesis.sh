#!/usr/bin/env bash
# Fuzzes every operation of the OpenAPI document with schemathesis (PyPI) against a live
# `holdfast serve` on a fresh SQLite database, bound to 127.0.0.1 only. Checks: no 5xx, every
# answer matches its schema, and every status is documented. Bounded: a few examples per
# operation and a hard time limit. Installs schemathesis into a throwaway virtualenv the first
# time. On failure it prints the seed that replays the run.
#
# Usage: scripts/schemathesis.sh [more schemathesis run options; give report paths absolute]
# Knobs: SCHEMATHESIS_SEED, SCHEMATHESIS_MAX_EXAMPLES (default 20), SCHEMATHESIS_TIME_LIMIT
# (seconds, default 240), SCHEMATHESIS_VENV, HOLDFAST_BIN (default: build target/debug/holdfast).
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv="${SCHEMATHESIS_VENV:-${TMPDIR:-/tmp}/holdfast-schemathesis-venv}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-20}"
time_limit="${SCHEMATHESIS_TIME_LIMIT:-240}"
seed="${SCHEMATHESIS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"

if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $version" ]; then
  echo "installing schemathesis $version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

bin="${HOLDFAST_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --quiet -p holdfast
  bin=./target/debug/holdfast
fi

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Workers off: the fuzzer creates webhook endpoints with made-up URLs, and nothing should call
# them. The secrets key file lives with the throwaway database.
HOLDFAST_LOG=warn "$bin" serve --listen 127.0.0.1:0 --no-workers \
  --database-url "sqlite://$work/holdfast.db" --secrets-key-file "$work/holdfast.key" \
  >"$work/stdout" 2>"$work/server.log" &
server=$!

base="" key=""
for _ in $(seq 1 100); do
  base="$(sed -n 's|^holdfast listening on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$work/stdout")"
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
key="$(grep -o 'sk_test_[A-Za-z0-9]*' "$work/stdout" | head -n 1 || true)"
if [ -z "$base" ] || [ -z "$key" ]; then
  echo "holdfast serve did not start:" >&2
  cat "$work/stdout" "$work/server.log" >&2
  exit 1
fi

echo "schemathesis $version against $base/openapi.json, seed $seed, $max_examples examples per operation"
status=0
# The hooks steer generated data past the refusals that would stop most requests (see
# scripts/schemathesis_hooks.py). Run from the throwaway directory, where schemathesis keeps its
# cache.
hooks_dir="$PWD/scripts"
(cd "$work" && PYTHONPATH="$hooks_dir" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  timeout --signal=INT --kill-after=10 "$time_limit" \
  "$venv/bin/schemathesis" run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --header "Authorization: Bearer $key" \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --request-timeout 10 \
  --workers 2 \
  --no-color \
  "$@") || status=$?

if [ "$status" -ne 0 ]; then
  if [ "$status" -eq 124 ]; then
    echo "schemathesis ran past its limit of ${time_limit}s" >&2
  fi
  if grep -q "panicked" "$work/server.log"; then
    echo "the server panicked:" >&2
    grep -A5 "panicked" "$work/server.log" >&2
  fi
  echo "schemathesis failed; replay with: SCHEMATHESIS_SEED=$seed scripts/schemathesis.sh" >&2
  exit "$status"
fi

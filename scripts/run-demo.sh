#!/usr/bin/env bash
# Serve the demo service (acceptance_tests/app) on 0.0.0.0:${PORT:-8080}; `make run` calls this.
# Extra arguments go to gunicorn (e.g. scripts/run-demo.sh --workers 4).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PORT="${PORT:-8080}"

echo "Demo service: http://localhost:${PORT}/api/hello" >&2
exec "${VENV}/bin/c2cwsgiutils_run" --paste acceptance_tests/app/production.ini \
    --bind "0.0.0.0:${PORT}" --workers "${WORKERS:-2}" --timeout 90 "$@"

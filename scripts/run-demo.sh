#!/usr/bin/env bash
# `make run`: the demo service (acceptance_tests/app) on 0.0.0.0:${PORT:-8080} with its Celery
# worker beside it. Extra arguments go to gunicorn (e.g. scripts/run-demo.sh --workers 4).
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PORT="${PORT:-8080}"
mkdir -p var/logs

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The worker runs the demo's tasks (/api/sleep-in-worker); broker: C2C_CELERY_BROKER_URL (default
# Redis on localhost). Without a reachable broker the web service still runs; that route says so.
"${VENV}/bin/celery" -A c2cwsgiutils_demo.tasks worker --loglevel INFO --concurrency 2 \
    >var/logs/demo-worker.log 2>&1 &
pids+=($!)
echo "Celery worker: log in var/logs/demo-worker.log" >&2

echo "Demo service: http://localhost:${PORT}/api/hello" >&2
"${VENV}/bin/c2cwsgiutils_run" --paste acceptance_tests/app/production.ini \
    --bind "0.0.0.0:${PORT}" --workers "${WORKERS:-2}" --timeout 90 "$@" &
pids+=($!)
wait -n "${pids[@]}"

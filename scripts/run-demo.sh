#!/usr/bin/env bash
# `make run`: the log collector on 127.0.0.1:${COLLECTOR_PORT:-8090}, the demo service
# (acceptance_tests/app) on 0.0.0.0:${PORT:-8080} shipping its logs to the collector, the demo's
# Celery worker, the prices service it calls (OpenTelemetry, OTLP), and a little traffic
# (scripts/demo-traffic.py). Extra arguments go to gunicorn.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PORT="${PORT:-8080}"
COLLECTOR_PORT="${COLLECTOR_PORT:-8090}"
COLLECTOR_INGEST_PORT="${COLLECTOR_INGEST_PORT:-8091}"
PRICES_PORT="${PRICES_PORT:-8092}"
mkdir -p var/logs

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The collector keeps its records in var/collector.sqlite (C2C_COLLECTOR_DB_URL to change); the
# demo ships its logs to its ingest port (POST only, one thread), people and tools use the main one.
# Embedded ClickHouse (C2C_COLLECTOR_DB_URL=chdb://$PWD/var/clickhouse) is one process: no ingest port.
DB_URL="${C2C_COLLECTOR_DB_URL:-sqlite:///var/collector.sqlite}"
INGEST_ARGS=(--ingest-port "${COLLECTOR_INGEST_PORT}")
if [[ "${DB_URL}" == chdb:* ]]; then
    INGEST_ARGS=(--ingest-port 0)
    COLLECTOR_INGEST_PORT="${COLLECTOR_PORT}"
fi
"${VENV}/bin/c2cwsgiutils-logs" serve --port "${COLLECTOR_PORT}" "${INGEST_ARGS[@]}" \
    --db-url "${DB_URL}" >var/logs/collector.log 2>&1 &
pids+=($!)
echo "Collector: http://localhost:${COLLECTOR_PORT}/ (log in var/logs/collector.log)" >&2
# The demo ships its logs from its first line: wait (60 s at most) until the collector answers (its
# main port opens after the ingest port), so that they go straight in rather than through the spool.
for _ in $(seq 1 120); do
    if "${VENV}/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "http://127.0.0.1:${COLLECTOR_PORT}/api/v1/status" 2>/dev/null; then
        break
    fi
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        echo "The collector stopped: see var/logs/collector.log" >&2
        exit 1
    fi
    sleep 0.5
done
# The prices service the demo calls: OpenTelemetry only (no c2cwsgiutils), shipping its spans and
# logs by OTLP/HTTP to the collector's main port (its ingest port would take them too).
OTEL_EXPORTER_OTLP_ENDPOINT="${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:${COLLECTOR_PORT}}" \
    OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-demo-prices}" \
    "${VENV}/bin/python" -m c2cwsgiutils_demo.prices --port "${PRICES_PORT}" >var/logs/demo-prices.log 2>&1 &
pids+=($!)
echo "Prices service (OpenTelemetry): http://localhost:${PRICES_PORT}/prices/1 (log in var/logs/demo-prices.log)" >&2
export DEMO_PRICES_URL="${DEMO_PRICES_URL:-http://127.0.0.1:${PRICES_PORT}}"

export C2C_COLLECTOR_URL="${C2C_COLLECTOR_URL:-http://127.0.0.1:${COLLECTOR_INGEST_PORT}}"
export C2C_SERVICE_NAME="${C2C_SERVICE_NAME:-demo}"
# A terminal in development: readable lines with the request ID (production keeps JSON, the default).
export C2C_LOG_FORMAT="${C2C_LOG_FORMAT:-text}"
# The demo's own Redis database and queue, so that it never takes (or leaves) another project's tasks.
export C2C_CELERY_BROKER_URL="${C2C_CELERY_BROKER_URL:-redis://127.0.0.1:6379/7}"
export DEMO_CELERY_QUEUE="${DEMO_CELERY_QUEUE:-c2cwsgiutils_demo}"
export C2C_HEALTH_CHECK_BASE_URL="${C2C_HEALTH_CHECK_BASE_URL:-http://127.0.0.1:${PORT}}"

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

"${VENV}/bin/python" scripts/demo-traffic.py "http://127.0.0.1:${PORT}" >var/logs/demo-traffic.log 2>&1 &
echo "Sample traffic: var/logs/demo-traffic.log" >&2
wait -n "${pids[@]}"

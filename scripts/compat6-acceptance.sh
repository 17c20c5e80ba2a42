#!/bin/bash
# Run c2cwsgiutils 6.1.10's own acceptance suite against this package (issue #19).
#
#   scripts/compat6-acceptance.sh SRC [pytest args...]
#
# SRC: a checkout of camptocamp/c2cwsgiutils at tag 6.1.10. Its demo application
# (acceptance_tests/app) is served unchanged by gunicorn with its own gunicorn.conf.py and
# production.ini on this package, twice as in its docker-compose file (app: 1 worker on :8080,
# app2: 2 workers on :8082 with its metrics on :9090), against two PostgreSQL databases (master and
# slave) and Redis; then its acceptance_tests/tests run against them.
#
# Adapted to a machine without docker, and nothing else: the hosts and ports of the suite's
# conftest.py (app -> localhost), the databases' names and user, the absolute /app/alembic.ini path
# of the demo (and the health-check name made from it), its migration's unused PostGIS extension,
# a private redis-server and sentinel (the suite's "redis:26379" becomes its 127.0.0.1 address),
# versions.json written by c2cwsgiutils-genversion as the demo's Dockerfile does.
# Installs the demo (c2cwsgiutils_app, editable) into the venv. Needs .venv (make install), the
# shared PostgreSQL (user postgres, trust: databases c2c6_master and c2c6_slave are re-created),
# redis-server; ports 8080, 8082, 9090 and 9091 free.
set -euo pipefail

SRC=$(realpath "${1:?usage: $0 SRC-of-6.1.10 [pytest args]}")
shift
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$HERE/.venv}
WORK=$(mktemp -d /tmp/compat6-acceptance.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
}
trap cleanup EXIT

cp -r "$SRC/acceptance_tests/app" "$SRC/acceptance_tests/tests" "$WORK/"
APP=$WORK/app
sed -i "s|/app/alembic.ini|$APP/alembic.ini|" "$APP/c2cwsgiutils_app/__init__.py"
sed -i '/CREATE EXTENSION IF NOT EXISTS postgis/d' "$APP"/app_alembic/versions/*.py
ALEMBIC_NAME="alembic_$(echo "$APP/alembic.ini" | tr / _ | sed 's/^_*//')_alembic"
sed -i "s|alembic_app_alembic.ini_alembic|$ALEMBIC_NAME|" "$WORK"/tests/tests/test_health_check.py
free_port() { "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
SENTINEL_PORT=$(free_port)
sed -i "s|redis:26379|127.0.0.1:$SENTINEL_PORT|g" "$WORK"/tests/tests/test_health_check.py
sed -i "s|https://app:8080/api/|https://localhost:8080/api/|; s|http://app:8080/api/|http://localhost:8080/api/|" \
    "$WORK"/tests/tests/test_index.py
sed -i -e 's|http://app:8080/|http://localhost:8080/|' -e 's|http://app2:8080/|http://localhost:8082/|' \
    -e 's|http://app2:9090/|http://localhost:9090/|' -e 's|http://run_test:9090/|http://localhost:9091/|' \
    -e 's|user="www-data"|user="postgres"|' -e 's|password="www-data"|password=""|' \
    -e 's|host="db" if master else "db_slave"|host="127.0.0.1"|' \
    -e 's|database="test"|database="c2c6_master" if master else "c2c6_slave"|' \
    "$WORK/tests/tests/conftest.py"

for db in c2c6_master c2c6_slave; do
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" > /dev/null
    (cd "$APP" && SQLALCHEMY_URL=postgresql://postgres@127.0.0.1:5432/$db "$VENV/bin/alembic" -c alembic.ini upgrade head > "$WORK/alembic-$db.log" 2>&1) \
        || { cat "$WORK/alembic-$db.log"; exit 1; }
done
"$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$APP" > /dev/null 2>&1 \
    || "$VENV/bin/pip" install -q --no-deps -e "$APP"

export SQLALCHEMY_URL=postgresql://postgres@127.0.0.1:5432/c2c6_master
export SQLALCHEMY_SLAVE_URL=postgresql://postgres@127.0.0.1:5432/c2c6_slave
export PGOPTIONS="-c statement_timeout=1500" STATS_VIEW=1 C2C_SECRET=changeme C2C_LOG_VIEW_ENABLED=1
export C2C_DB_MAINTENANCE_VIEW_ENABLED=1 C2C_SQL_PROFILER_ENABLED=1 C2C_DEBUG_VIEW_ENABLED=1
export C2C_ENABLE_EXCEPTION_HANDLING=1 C2CWSGIUTILS_LOG_LEVEL=DEBUG SQL_LOG_LEVEL=DEBUG OTHER_LOG_LEVEL=INFO
export TEST="'%1'" test="'%2'" DEVELOPMENT=0 LOG_TYPE=console LOG_LEVEL=INFO GUNICORN_LOG_LEVEL=WARNING
export SQLALCHEMY_POOL_RECYCLE=30 SQLALCHEMY_POOL_SIZE=5 SQLALCHEMY_MAX_OVERFLOW=25
export SQLALCHEMY_SLAVE_POOL_RECYCLE=30 SQLALCHEMY_SLAVE_POOL_SIZE=5 SQLALCHEMY_SLAVE_MAX_OVERFLOW=25
export GUNICORN_THREADS=10 PATH="$VENV/bin:$PATH"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    > "$WORK/redis.log" 2>&1 &
PIDS+=($!)
printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %s 1\n' \
    "$SENTINEL_PORT" "$WORK" "$REDIS_PORT" > "$WORK/sentinel.conf"
redis-server "$WORK/sentinel.conf" --sentinel > "$WORK/sentinel.log" 2>&1 &
PIDS+=($!)
export C2C_REDIS_SENTINELS=127.0.0.1:$SENTINEL_PORT C2C_VERSIONS_PATH=$WORK/versions.json
(cd "$APP" && "$VENV/bin/c2cwsgiutils-genversion" --output "$WORK/versions.json" \
    "$(git -C "$SRC" rev-parse HEAD 2> /dev/null || echo 0000000)" > /dev/null)

start() { # name redis-db workers bind prometheus-port [extra env...]
    local name=$1 db=$2 workers=$3 bind=$4 port=$5
    shift 5
    mkdir -p "$WORK/prometheus-$name"
    (cd "$APP" && exec env "$@" C2C_REDIS_DB="$db" GUNICORN_WORKERS="$workers" \
        GUNICORN_CMD_ARGS="--bind $bind" PROMETHEUS_MULTIPROC_DIR="$WORK/prometheus-$name" \
        C2C_PROMETHEUS_PORT="$port" "$VENV/bin/gunicorn" -c gunicorn.conf.py \
        > "$WORK/$name.log" 2>&1) &
    PIDS+=($!)
}
start app 1 1 :8080 9091
start app2 2 2 :8082 9090 LOG_TYPE=json C2C_BROADCAST_PREFIX=app2

for url in http://localhost:8080/api/ping http://localhost:8082/api/ping; do
    for _ in $(seq 120); do
        curl -sf "$url" > /dev/null && break
        sleep 0.5
    done
done
echo "work directory: $WORK (app.log, app2.log)"
cd "$WORK/tests"
"$VENV/bin/pytest" -p no:cacheprovider -q -o addopts= -W ignore::DeprecationWarning tests "$@" || true

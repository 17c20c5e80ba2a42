"""Live SQL activity: ``{C2C_BASE_PATH}/sql/activity`` lists the statements PostgreSQL runs now.

Each entry joins what PostgreSQL says (``db_metadata``, from ``pg_stat_activity``) with what this
toolkit put in the statement (``app_metadata``: request_id, kind, task_id, route, traceparent, pid
of the client process ... parsed back from the ``application_name`` and the sqlcommenter comment).

Which database is queried: ``C2C_SQL_ACTIVITY_URL`` when set (e.g. a role allowed to see every
session, ``pg_read_all_stats``), else every engine registered on the application
(:func:`c2cwsgiutils.db.setup_session` registers its engines, :func:`c2cwsgiutils.sql.instrument`
those it is given a registry for), each server/database once. Only the sessions of the same
database are listed; the view's own session is left out; idle sessions too.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from c2cwsgiutils import admin, config, sql
from c2cwsgiutils.sql import tagging

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["app_metadata", "includeme", "running_queries"]

LOG = logging.getLogger(__name__)

SQL_ACTIVITY_URL = config.declare(
    "C2C_SQL_ACTIVITY_URL",
    "c2c.sql_activity_url",
    "",
    config.as_str,
    "Database URL the SQL activity view reads pg_stat_activity from. Empty: the engines registered "
    "by setup_session / sql.instrument.",
    secret=True,
    feature="sql",
)

_QUERY = """
SELECT pid, datname, usename, application_name, client_addr::text AS client_addr, client_port,
       backend_start, xact_start, query_start, state_change, state, wait_event_type, wait_event,
       EXTRACT(EPOCH FROM (clock_timestamp() - query_start)) * 1000 AS duration_ms, query
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
  AND datname = current_database()
  AND backend_type = 'client backend'
  AND state IS DISTINCT FROM 'idle'
ORDER BY query_start
"""


@dataclass(frozen=True)
class ActivitySettings:
    """The parsed activity settings."""

    url: str = ""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ActivitySettings:
        """Read the settings (environment variable > ini key > default)."""
        return cls(url=SQL_ACTIVITY_URL.get(settings))


def app_metadata(application_name: str | None, query: str | None) -> dict[str, str]:
    """What this toolkit's tagging put in a statement: the application_name's fields, then the comment's."""
    result = tagging.parse_application_name(application_name)
    result.update(tagging.parse_comment(query))
    return result


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def running_queries(engine: Engine) -> list[dict[str, Any]]:
    """The non-idle sessions of ``engine``'s database (except the caller's), oldest query first."""
    with engine.connect() as conn:
        result = conn.exec_driver_sql(_QUERY)
        rows = [dict(row._mapping) for row in result]
    entries = []
    for row in rows:
        db_metadata = {key: _json_value(value) for key, value in row.items()}
        if db_metadata.get("duration_ms") is not None:
            db_metadata["duration_ms"] = round(float(db_metadata["duration_ms"]), 3)
        entries.append(
            {"db_metadata": db_metadata, "app_metadata": app_metadata(row["application_name"], row["query"])}
        )
    return entries


_ACTIVITY_ENGINES: dict[str, Engine] = {}


def _targets(registry: Any) -> dict[str, Engine]:
    settings = config.cached(registry, ActivitySettings.from_settings)
    if settings.url:
        engine = _ACTIVITY_ENGINES.get(settings.url)
        if engine is None:
            from sqlalchemy import create_engine

            engine = _ACTIVITY_ENGINES[settings.url] = create_engine(settings.url, pool_size=1)
        return {"C2C_SQL_ACTIVITY_URL": engine}
    targets: dict[str, Engine] = {}
    seen: set[tuple[Any, ...]] = set()
    for name, engine in sql.engines(registry).items():
        url = engine.url
        key = (url.host, url.port, url.database)
        if key not in seen:
            seen.add(key)
            targets[name] = engine
    return targets


def _same_request(entry: dict[str, Any], request_id: str) -> bool:
    found = entry["app_metadata"].get("request_id")
    if found == request_id:
        return True
    # An application_name of the maximum length may hold a cut request ID.
    name = entry["db_metadata"].get("application_name") or ""
    return bool(found) and len(name) == tagging.MAX_APPLICATION_NAME and request_id.startswith(found)


def _view(request: Any) -> dict[str, Any]:
    from pyramid.httpexceptions import HTTPBadRequest

    request_id = request.params.get("request_id") or None
    min_duration_raw = request.params.get("min_duration")
    try:
        min_duration = float(min_duration_raw) if min_duration_raw else None
    except ValueError:
        raise HTTPBadRequest("min_duration must be a number of milliseconds") from None
    queries: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for name, engine in _targets(request.registry).items():
        try:
            found = running_queries(engine)
        except Exception as exc:  # one unreachable database must not hide the others
            LOG.warning("SQL activity of %s failed", name, exc_info=True)
            errors[name] = type(exc).__name__
            continue
        for entry in found:
            if request_id is not None and not _same_request(entry, request_id):
                continue
            duration = entry["db_metadata"].get("duration_ms")
            if min_duration is not None and (duration is None or duration < min_duration):
                continue
            queries.append({"engine": name, **entry})
    result: dict[str, Any] = {"queries": queries}
    if errors:
        result["errors"] = errors
    return result


def includeme(config_: Any) -> None:
    """Pyramid include: the ``sql/activity`` admin view."""
    config.cached(config_.registry, ActivitySettings.from_settings)
    admin.add_admin_view(
        config_,
        "sql_activity",
        "sql/activity",
        _view,
        title="SQL activity",
        params=("request_id", "min_duration"),
    )

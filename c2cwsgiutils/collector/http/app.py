"""The collector's Pyramid application: ``c2cwsgiutils.pyramid`` plus the ``/api/v1`` API.

``create_app(settings)`` builds the WSGI application (used by ``c2cwsgiutils-logs serve`` in each
gunicorn worker and by tests); ``main`` is the PasteDeploy entry point
(``use = egg:c2cwsgiutils#collector`` or ``call:c2cwsgiutils.collector.app:main``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["create_app", "create_ingest_app", "includeme", "main"]


def includeme(config: Any) -> None:
    """Open the storage (migrating it when asked), set up auth and retention, add the routes."""
    from c2cwsgiutils.collector.http.admission import Admission
    from c2cwsgiutils.collector.http.app_state import CollectorState, set_state
    from c2cwsgiutils.collector.http.auth import Authenticator
    from c2cwsgiutils.collector.limits import Limits
    from c2cwsgiutils.collector.settings import collector_settings, max_inflight
    from c2cwsgiutils.collector.storage import query_timeout
    from c2cwsgiutils.collector.storage.backends import check_writable, migrate, open_storage
    from c2cwsgiutils.collector.storage.retention import RetentionThread
    from c2cwsgiutils.config import ConfigError

    settings = collector_settings(config.registry)
    if settings.forward_url:  # relay mode: no database, a spool forwarded upstream
        config.include("c2cwsgiutils.collector.relay.forward")
        return
    try:
        authenticator = Authenticator(settings.tokens, settings.credentials_file)
        check_writable(settings.db_url)
        storage = open_storage(settings.db_url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    query_timeout.install(storage, Limits.from_settings(config.registry.settings).query_timeout)
    if settings.auto_migrate:
        migrate(storage)
    retention = None
    if settings.retention_days > 0:
        retention = RetentionThread(storage, settings.retention_days, settings.retention_batch)
        retention.start()
    admission = Admission(max_inflight(settings), settings.retry_after, settings.threads)
    set_state(config.registry, CollectorState(settings, storage, authenticator, retention, admission))
    config.include("c2cwsgiutils.collector.http.api")
    config.include("c2cwsgiutils.collector.http.otlp_views")
    config.include("c2cwsgiutils.collector.http.requests_api")
    config.include("c2cwsgiutils.collector.http.ui")


def create_app(settings: Mapping[str, Any] | None = None) -> Any:
    """The collector WSGI application for these ini-style settings (env vars still win)."""
    from pyramid.config import Configurator

    from c2cwsgiutils.collector.http import api
    from c2cwsgiutils.collector.http.app_state import find_state
    from c2cwsgiutils.collector.settings import collector_settings

    # The collector's own statements are not request spans of anything worth recording.
    config = Configurator(settings={"c2c.sql_spans": "false", **dict(settings or {})})
    config.include("c2cwsgiutils.pyramid")
    config.include(includeme)
    config.add_notfound_view(api.not_found)
    app = config.make_wsgi_app()
    state = find_state(app.registry)  # none in relay mode
    settings_ = collector_settings(app.registry)
    if state is not None and settings_.fast_ingest:
        from c2cwsgiutils.collector.http.fast_ingest import FastIngest

        app = FastIngest(app, state, app.registry.settings)
    from c2cwsgiutils.collector.http.origin_guard import OriginGuard

    return OriginGuard(app, loopback_only=not (settings_.tokens or settings_.credentials_file))


def create_ingest_app(settings: Mapping[str, Any] | None = None) -> Any:
    """The application of the ingest port: ``POST /api/v1/record``, ``/v1/logs`` and ``/v1/traces``
    of :func:`create_app`, nothing else."""
    from c2cwsgiutils.collector.http.ingest_port import IngestOnly

    return IngestOnly(create_app(settings))


def main(_global_config: Mapping[str, Any] | None = None, **settings: Any) -> Any:
    """PasteDeploy application factory."""
    return create_app(settings)

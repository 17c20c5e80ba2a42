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
    from c2cwsgiutils.collector import query_timeout
    from c2cwsgiutils.collector.admission import Admission
    from c2cwsgiutils.collector.auth import Authenticator
    from c2cwsgiutils.collector.limits import Limits
    from c2cwsgiutils.collector.retention import RetentionThread
    from c2cwsgiutils.collector.settings import collector_settings, max_inflight
    from c2cwsgiutils.collector.state import CollectorState, set_state
    from c2cwsgiutils.collector.storage import check_writable, migrate, open_storage
    from c2cwsgiutils.config import ConfigError

    settings = collector_settings(config.registry)
    if settings.forward_url:  # relay mode: no database, a spool forwarded upstream
        config.include("c2cwsgiutils.collector.relay")
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
    config.include("c2cwsgiutils.collector.api")
    config.include("c2cwsgiutils.collector.otlp_views")
    config.include("c2cwsgiutils.collector.requests_api")
    config.include("c2cwsgiutils.collector.ui")


def create_app(settings: Mapping[str, Any] | None = None) -> Any:
    """The collector WSGI application for these ini-style settings (env vars still win)."""
    from pyramid.config import Configurator

    from c2cwsgiutils.collector import api
    from c2cwsgiutils.collector.settings import collector_settings
    from c2cwsgiutils.collector.state import find_state

    # The collector's own statements are not request spans of anything worth recording.
    config = Configurator(settings={"c2c.sql_spans": "false", **dict(settings or {})})
    config.include("c2cwsgiutils.pyramid")
    config.include(includeme)
    config.add_notfound_view(api.not_found)
    app = config.make_wsgi_app()
    state = find_state(app.registry)  # none in relay mode
    if state is not None and collector_settings(app.registry).fast_ingest:
        from c2cwsgiutils.collector.fast_ingest import FastIngest

        return FastIngest(app, state, app.registry.settings)
    return app


def create_ingest_app(settings: Mapping[str, Any] | None = None) -> Any:
    """The application of the ingest port: ``POST /api/v1/record`` of :func:`create_app`, nothing else."""
    from c2cwsgiutils.collector.ingest_listener import IngestOnly

    return IngestOnly(create_app(settings))


def main(_global_config: Mapping[str, Any] | None = None, **settings: Any) -> Any:
    """PasteDeploy application factory."""
    return create_app(settings)

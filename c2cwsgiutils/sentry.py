"""Sentry set-up: ``sentry_sdk`` initialised from ``SENTRY_*`` settings, request ID on every event.

When ``SENTRY_URL`` (the project's DSN) is set, :func:`init` calls ``sentry_sdk.init`` with:

- ``release``: ``SENTRY_CLIENT_RELEASE`` unless it is ``latest``, else the ``GIT_HASH`` env var;
- ``environment``: ``SENTRY_CLIENT_ENVIRONMENT``;
- the Pyramid, SQLAlchemy and logging integrations (each when its library is installed);
- a tag per ``SENTRY_TAG_<NAME>`` env var (tag ``<name>``, lower-cased);
- the correlation context's ``request_id`` and ``trace_id`` as tags on every event.

``sentry_sdk`` is imported only by this module; when it is missing, one log line says so and the
feature stays off. Sentry's hooks never break the application: the event processor swallows its
own errors.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from c2cwsgiutils import config, context

if TYPE_CHECKING:
    from sentry_sdk._types import Event

__all__ = [
    "SentrySettings",
    "capture_exceptions",
    "filter_factory",
    "filter_wsgi_app",
    "includeme",
    "init",
    "is_enabled",
    "shutdown",
]

LOG = logging.getLogger(__name__)

URL = config.declare(
    "SENTRY_URL",
    "c2c.sentry.url",
    "",
    config.as_str,
    "Sentry DSN (https://key@host/project). Empty: Sentry is off.",
    secret=True,
    feature="sentry",
)
CLIENT_RELEASE = config.declare(
    "SENTRY_CLIENT_RELEASE",
    "c2c.sentry.client_release",
    "",
    config.as_str,
    "Release reported with every event; empty or 'latest': the GIT_HASH env var.",
    feature="sentry",
)
CLIENT_ENVIRONMENT = config.declare(
    "SENTRY_CLIENT_ENVIRONMENT",
    "c2c.sentry.client_environment",
    "",
    config.as_str,
    "Environment reported with every event (dev, int, prod ...). Empty: the SDK's default.",
    feature="sentry",
)
TRACES_SAMPLE_RATE = config.declare(
    "SENTRY_TRACES_SAMPLE_RATE",
    "c2c.sentry.traces_sample_rate",
    0.0,
    config.bounded(config.as_float, 0, 1),
    "Share of requests whose performance traces are sent to Sentry (0: none).",
    feature="sentry",
)
EVENT_LEVEL = config.declare(
    "SENTRY_EVENT_LEVEL",
    "c2c.sentry.event_level",
    "error",
    config.choice("debug", "info", "warning", "error", "critical"),
    "Log records at this level or above become Sentry events.",
    feature="sentry",
)
BREADCRUMB_LEVEL = config.declare(
    "SENTRY_BREADCRUMB_LEVEL",
    "c2c.sentry.breadcrumb_level",
    "info",
    config.choice("debug", "info", "warning", "error", "critical"),
    "Log records at this level or above are kept as breadcrumbs of the next event.",
    feature="sentry",
)

TAG_PREFIX = "SENTRY_TAG_"


@dataclass(frozen=True)
class SentrySettings:
    """Everything :func:`init` passes to ``sentry_sdk.init``."""

    dsn: str
    release: str | None
    environment: str | None
    traces_sample_rate: float
    event_level: int
    breadcrumb_level: int
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
    ) -> SentrySettings:
        env = os.environ if environ is None else environ
        release = CLIENT_RELEASE.get(settings, env)
        if not release or release == "latest":
            release = env.get("GIT_HASH", "")
        return cls(
            dsn=URL.get(settings, env),
            release=release or None,
            environment=CLIENT_ENVIRONMENT.get(settings, env) or None,
            traces_sample_rate=TRACES_SAMPLE_RATE.get(settings, env),
            event_level=logging.getLevelName(EVENT_LEVEL.get(settings, env).upper()),
            breadcrumb_level=logging.getLevelName(BREADCRUMB_LEVEL.get(settings, env).upper()),
            tags={
                name[len(TAG_PREFIX) :].lower(): value
                for name, value in env.items()
                if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX)
            },
        )


_enabled = False
_processor_added = False


def is_enabled() -> bool:
    """Whether :func:`init` turned Sentry on in this process."""
    return _enabled


def _add_correlation_tags(event: Event, hint: dict[str, Any]) -> Event:
    # An event processor: runs in the thread that captured the event, so the context is the one
    # of the request, task or command that failed. Tags already set (by the request subscriber
    # below, for events captured after the context was left) are kept.
    try:
        ctx = context.current()
        if ctx.request_id or ctx.trace_id:
            tags = event.setdefault("tags", {})
            if ctx.request_id:
                tags.setdefault("request_id", ctx.request_id)
            if ctx.trace_id:
                tags.setdefault("trace_id", ctx.trace_id)
    except Exception:  # ops code must never break the application it watches
        LOG.debug("Could not add the correlation tags to a Sentry event", exc_info=True)
    return event


def _integrations() -> list[Any]:
    import importlib.util

    integrations: list[Any] = []
    if importlib.util.find_spec("pyramid") is not None:
        from sentry_sdk.integrations.pyramid import PyramidIntegration

        integrations.append(PyramidIntegration())
    if importlib.util.find_spec("sqlalchemy") is not None:
        from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

        integrations.append(SqlalchemyIntegration())
    return integrations


def init(settings: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Initialise ``sentry_sdk`` when ``SENTRY_URL`` is set; returns whether Sentry is now on.

    For any process (WSGI, Celery, scripts); Pyramid applications get it from
    ``config.include("c2cwsgiutils.sentry")``. Raises :class:`~c2cwsgiutils.config.ConfigError`
    on an invalid setting.
    """
    global _enabled, _processor_added
    parsed = SentrySettings.from_settings(settings, environ)
    if not parsed.dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.logging import LoggingIntegration
    except ImportError:
        LOG.warning("Sentry disabled: SENTRY_URL is set but the 'sentry-sdk' package is not installed")
        return False

    sentry_sdk.init(
        dsn=parsed.dsn,
        release=parsed.release,
        environment=parsed.environment,
        traces_sample_rate=parsed.traces_sample_rate or None,
        integrations=[
            LoggingIntegration(level=parsed.breadcrumb_level, event_level=parsed.event_level),
            *_integrations(),
        ],
    )
    scope = sentry_sdk.get_global_scope()
    for name, value in parsed.tags.items():
        scope.set_tag(name, value)
    if not _processor_added:  # once per process: a second init() must not run it twice
        scope.add_event_processor(_add_correlation_tags)
        _processor_added = True
    _enabled = True
    LOG.info("Sentry enabled (release=%s, environment=%s)", parsed.release, parsed.environment)
    return True


def shutdown(timeout: float = 2.0) -> None:
    """Flush pending events and turn Sentry off in this process (tests, process exit)."""
    global _enabled
    if not _enabled:
        return
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.flush(timeout=timeout)
    client.close(timeout=timeout)
    scope = sentry_sdk.get_global_scope()
    scope.clear()  # the SENTRY_TAG_* tags; our event processor stays, harmless without a client
    scope.set_client(None)  # a non-recording client: capture_* calls become no-ops
    _enabled = False


def _tag_request_scope(event: Any) -> None:
    # NewRequest runs inside every tween, once the request ID is known. The Pyramid integration
    # gives each request its own isolation scope, so the tag also reaches events captured after
    # the request-tracking tween has left the context (an exception escaping every tween).
    request_id = context.current().request_id
    if request_id:
        import sentry_sdk

        sentry_sdk.get_isolation_scope().set_tag("request_id", request_id)


def includeme(config_: Any) -> None:
    """Pyramid include: :func:`init` from the application's settings."""
    if init(config_.get_settings()):
        from pyramid.events import NewRequest

        config_.add_subscriber(_tag_request_scope, NewRequest)


@contextlib.contextmanager
def capture_exceptions() -> Iterator[None]:
    """Send an exception raised in the block to Sentry (when it is on), then let it propagate (6.x API)."""
    try:
        yield
    except Exception:
        if _enabled:
            import sentry_sdk

            sentry_sdk.capture_exception()
        raise


def filter_wsgi_app(application: Callable[..., Any]) -> Callable[..., Any]:
    """``application`` wrapped in Sentry's WSGI middleware when Sentry is on, else itself (6.x API)."""
    if not _enabled:
        return application
    from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

    return SentryWsgiMiddleware(application)


def filter_factory(global_conf: Any = None, **local_conf: Any) -> Callable[..., Any]:
    """PasteDeploy ``filter_factory``: ``egg:c2cwsgiutils#sentry`` (6.x's pipeline element)."""
    return filter_wsgi_app

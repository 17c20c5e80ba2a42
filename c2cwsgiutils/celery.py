"""Celery 5 integration: the request ID and the trace travel with every task, and into its logs.

One line of set-up, in the module that makes the Celery application::

    from c2cwsgiutils.celery import create_app   # broker from C2C_CELERY_BROKER_URL
    app = create_app("myapp.tasks")

or, for an application made elsewhere, ``c2cwsgiutils.celery.setup(app)``. Then start the worker
as usual: ``celery -A myapp.tasks worker -l INFO`` (prefork, threads and solo pools work).

What it does, through Celery's signals:

- ``before_task_publish``: the message headers get :func:`c2cwsgiutils.propagation.export` of the
  sender's context (``X-Request-ID``, ``traceparent``); a task sent from outside any context gets
  a fresh request ID. Tasks sent by a task (chains, callbacks, nested calls) keep its request ID.
- ``task_prerun``: the worker adopts those headers with ``kind="celery"`` and the task id, and opens
  the task's root span (``task``, see :mod:`c2cwsgiutils.spans`); eager tasks continue the
  caller's context.
- ``task_postrun``: the span ends and the previous context comes back. Celery sends it from a
  ``finally`` after success, failure, retry, rejection and soft time limit alike; a hard time limit
  kills the pool process, context included. ``worker_process_init`` starts each prefork child
  with an empty context.
- The worker's main process handles each message in its context too (:func:`strategy`), so that
  Celery's "Task ... received" line carries the ids. The sender chooses the id of the task's span
  (header ``c2c_span_id``), so that line and the task itself are in the same span.
- With the prefork pool, the main process's handlers of timeouts and failures (``Request``) run
  in the task's context too.
- Logging: a filter on the handlers Celery sets up stamps every record with the context fields
  (``request_id``, ``task_id`` ...), and the default text formats show them.

Celery is imported only by this module.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

from c2cwsgiutils import config, context, propagation, spans
from c2cwsgiutils.logging.filter import ContextFilter

__all__ = [
    "BROKER_URL",
    "RESULT_BACKEND",
    "SPAN_HEADER",
    "TASK_LOG_FORMAT",
    "WORKER_LOG_FORMAT",
    "create_app",
    "install_log_filter",
    "setup",
    "strategy",
]

LOG = logging.getLogger(__name__)
SPAN_HEADER = "c2c_span_id"  # the span the task runs in, chosen by the sender

BROKER_URL = config.declare(
    "C2C_CELERY_BROKER_URL",
    "c2c.celery_broker_url",
    "redis://127.0.0.1:6379/0",
    config.as_str,
    "Broker of the Celery application made by c2cwsgiutils.celery.create_app().",
    secret=True,
    feature="celery",
)
RESULT_BACKEND = config.declare(
    "C2C_CELERY_RESULT_BACKEND",
    "c2c.celery_result_backend",
    "",
    config.as_str,
    "Result backend of the Celery application made by create_app(). Empty: the broker URL.",
    secret=True,
    feature="celery",
)

_CONTEXT = "[request_id=%(request_id)s task_id=%(task_id)s]"
WORKER_LOG_FORMAT = f"[%(asctime)s: %(levelname)s/%(processName)s] {_CONTEXT} %(name)s: %(message)s"
TASK_LOG_FORMAT = WORKER_LOG_FORMAT
_CELERY_DEFAULT_FORMATS = (
    "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s",
    "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s",
)


class _CeleryContextFilter(ContextFilter):
    """The shared :class:`~c2cwsgiutils.logging.ContextFilter`, plus Celery's task id placeholder.

    Celery's ``TaskFormatter`` writes ``"???"`` as the task id of records logged outside a task
    method (its own "received"/"succeeded" lines); the context knows the real one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        attributes = record.__dict__
        if not attributes.get("task_id") or attributes["task_id"] == "???":
            attributes["task_id"] = context.current().task_id
        return True


_FILTER = _CeleryContextFilter()


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Add the context filter to every handler of ``logger`` (default: the root logger).

    Call it after configuring logging yourself (Celery's own set-up is handled by :func:`setup`).
    Handler filters, unlike logger filters, also see the records of child loggers.
    """
    for handler in (logger or logging.getLogger()).handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


# Per thread, the tasks running in it: (task id, token of the context to restore, the task's span).
# Per thread and not per task id: a retried task may start again, with the same id, in another
# thread of the pool before its first run has finished. A stack: eager tasks nest.
_LOCAL = threading.local()


def _running() -> list[tuple[str, context.Token[context.Context], Any]]:
    try:
        return _LOCAL.running  # type: ignore[no-any-return]
    except AttributeError:
        _LOCAL.running = []
        return _LOCAL.running  # type: ignore[no-any-return]


SEND_SPAN = "celery send"
"""The name of the span of sending a task (``apply_async``), parent of the task's span."""
_MAX_SENDING = 16


def _sending() -> list[tuple[str, Any, context.Context]]:
    try:
        return _LOCAL.sending  # type: ignore[no-any-return]
    except AttributeError:
        _LOCAL.sending = []
        return _LOCAL.sending  # type: ignore[no-any-return]


def _open_send_span(headers: dict[str, Any], routing_key: Any) -> None:
    # The send span is current only while the headers are exported (so that the task's traceparent
    # names it), then set aside until after_task_publish ends it: a publish that raises never
    # sends after_task_publish, and must not leave the span as the caller's context.
    if not context.current().request_id and not context.current().trace_id:
        return
    send_span = spans.span(SEND_SPAN)
    if not isinstance(send_span, spans.Span):
        return
    send_span.fields.update(span_kind="producer", task_name=str(headers.get("task") or ""))
    send_span.fields["sent_task_id"] = str(headers.get("id") or "")  # task_id: the context's
    if routing_key:
        send_span.fields["queue"] = str(routing_key)
    send_span.__enter__()
    span_ctx = context.current()
    token = send_span._token
    send_span._token = None
    if token is not None:
        context.restore(token)  # the caller's context is back
    sending = _sending()
    if len(sending) >= _MAX_SENDING:  # publishes that raised: their spans are dropped
        del sending[0]
    sending.append((str(headers.get("id") or ""), send_span, span_ctx))


def _before_task_publish(headers: dict[str, Any] | None = None, routing_key: Any = None, **_: Any) -> None:
    if headers is None:
        return
    try:
        sending_ctx = None
        try:
            _open_send_span(headers, routing_key)
            sending = _sending()
            if sending and sending[-1][0] == str(headers.get("id") or ""):
                sending_ctx = sending[-1][2]
        except Exception:
            LOG.exception("Could not open the span of sending a Celery task")
        exported = propagation.export(sending_ctx)
        if propagation.REQUEST_ID_HEADER not in exported:
            exported[propagation.REQUEST_ID_HEADER] = context.new_request_id()
        headers.update(exported)
        headers[SPAN_HEADER] = context.new_span_id()
    except Exception:  # ops code never breaks the application it watches
        LOG.exception("Could not add the context to the headers of a Celery task")


def _after_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if not headers:
        return
    try:
        sending = _sending()
        task_id = str(headers.get("id") or "")
        for index in range(len(sending) - 1, -1, -1):
            if sending[index][0] == task_id:
                _sent_id, send_span, span_ctx = sending.pop(index)
                send_span._token = context.start(span_ctx)
                send_span.__exit__(None, None, None)
                return
    except Exception:
        LOG.exception("Could not end the span of sending a Celery task")


def _task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is None:
        return
    try:
        request = getattr(task, "request", None)
        if request is None or getattr(request, "is_eager", False):
            token = context.start(propagation.continued_context(context.current(), "celery", task_id=task_id))
        else:
            headers = vars(request)
            token = propagation.adopt_start(
                headers, kind="celery", span_id=headers.get(SPAN_HEADER), task_id=task_id
            )
    except Exception:
        LOG.exception("Could not bind the context of the Celery task %s", task_id)
        return
    task_span: Any = None
    try:
        task_span = spans.root_span("task").__enter__()
        if isinstance(task_span, spans.Span):
            fields = task_span.fields
            fields["span_kind"] = "task"
            fields["task_name"] = getattr(task, "name", "")
            delivery = getattr(getattr(task, "request", None), "delivery_info", None) or {}
            queue = delivery.get("routing_key") if isinstance(delivery, dict) else None
            if queue:
                fields["queue"] = str(queue)
    except Exception:
        LOG.exception("Could not open the span of the Celery task %s", task_id)
        task_span = None
    _running().append((task_id, token, task_span))


def _describe_outcome(task_span: spans.Span, task: Any, retval: Any, state: str | None) -> None:
    """The task's ``state`` (``success``, ``failure``, ``retry 1`` ...), failed when it raised."""
    name = (state or "").lower()
    if name == "retry":
        retries = getattr(getattr(task, "request", None), "retries", 0) or 0
        task_span.fields["retries"] = retries + 1
        name = f"retry {retries + 1}"
    task_span.fields["state"] = name
    if isinstance(retval, BaseException) and state in ("FAILURE", "RETRY"):
        # A retry is an exception too: Retry carries the one that caused it.
        spans.mark_failed(task_span, getattr(retval, "exc", None) or retval)


def _task_postrun(
    task_id: str | None = None, task: Any = None, retval: Any = None, state: str | None = None, **_: Any
) -> None:
    if task_id is None:
        return
    running = _running()
    if running and running[-1][0] == task_id:  # the usual case: the innermost task ends
        index = len(running) - 1
    else:
        found = [i for i in range(len(running) - 1, -1, -1) if running[i][0] == task_id]
        if not found:
            return
        index = found[0]
    # Tasks started above this one that never got their postrun are ended with it.
    for _inner_id, inner_token, _inner_span in reversed(running[index + 1 :]):
        with contextlib.suppress(ValueError):
            context.restore(inner_token)
    token, task_span = running[index][1:]
    del running[index:]
    try:
        if task_span is None:
            pass
        else:
            if isinstance(task_span, spans.Span):
                _describe_outcome(task_span, task, retval, state)
            task_span.__exit__(None, None, None)
    except Exception:
        LOG.exception("Could not end the span of the Celery task %s", task_id)
    finally:
        try:
            context.restore(token)
        except ValueError:
            # Not the contextvars.Context that started the task (should not happen): clear it.
            context.start(context.EMPTY)


def _worker_process_init(**_: Any) -> None:
    # A prefork child starts afresh: no context, no task inherited from the parent.
    _LOCAL.running = []
    context.start(context.EMPTY)


def strategy(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Any:
    """Celery's default task strategy, run in the context of the message it handles.

    The worker's main process logs "Task ... received" (and, with the solo pool, runs the task)
    from here: adopting the message headers makes those lines carry the request ID and task id.
    """
    from celery.worker.strategy import default

    handler = default(task, app, consumer, **kwargs)

    def handle_message(message: Any, *args: Any, **handler_kwargs: Any) -> Any:
        try:
            headers = message.headers or {}
            token = propagation.adopt_start(
                headers, kind="celery", span_id=headers.get(SPAN_HEADER), task_id=str(headers.get("id") or "")
            )
        except Exception:
            LOG.exception("Could not read the context of a Celery message")
            return handler(message, *args, **handler_kwargs)
        try:
            return handler(message, *args, **handler_kwargs)
        finally:
            context.restore(token)

    return handle_message


_REQUEST_CLASS: Any = None


def _context_request_class() -> Any:
    """Celery's worker ``Request``, with the handlers the main process runs put in the task's context.

    With the prefork pool, the main process logs a task's hard time limit and the failures the
    pool reports (a lost worker ...): these lines carry the request ID and task id too.
    """
    global _REQUEST_CLASS
    if _REQUEST_CLASS is None:
        from celery.worker.request import Request

        class ContextRequest(Request):  # type: ignore[misc]
            def _adopt(self) -> Any:
                return propagation.adopt(
                    self._request_dict,
                    kind="celery",
                    span_id=self._request_dict.get(SPAN_HEADER),
                    task_id=str(self.id),
                )

            def on_timeout(self, soft: bool, timeout: float) -> Any:
                with self._adopt():
                    return super().on_timeout(soft, timeout)

            def on_failure(self, exc_info: Any, *args: Any, **kwargs: Any) -> Any:
                with self._adopt():
                    return super().on_failure(exc_info, *args, **kwargs)

            def on_retry(self, exc_info: Any) -> Any:
                with self._adopt():
                    return super().on_retry(exc_info)

        _REQUEST_CLASS = ContextRequest
    return _REQUEST_CLASS


def __getattr__(name: str) -> Any:
    # Celery resolves "c2cwsgiutils.celery:ContextRequest" by name; the class is made on first
    # use so that importing this module does not import Celery.
    if name == "ContextRequest":
        return _context_request_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _after_setup_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is not None:
        install_log_filter(logger)


def setup(app: Any, log_format: bool = True) -> Any:
    """Wire the context into ``app`` (a ``celery.Celery``) and its workers; returns ``app``.

    Safe to call more than once. With ``log_format``, Celery's default text log formats are
    replaced by ones that show the request ID and the task id (formats set by the user are kept).
    Unless ``worker_hijack_root_logger`` was set explicitly, it is turned off, so that the
    handlers configured before the worker starts (at import time) keep receiving its records.
    """
    from celery import signals

    if "worker_hijack_root_logger" not in app.conf.changes:
        # Celery's worker empties the root logger's handlers by default: the logging a module
        # configured at import time (JSON, the CollectorHandler ...) would vanish without an
        # error. Not hijacking keeps those handlers; with none, Celery still adds its own.
        app.conf.worker_hijack_root_logger = False
    if app.Task.Strategy == "celery.worker.strategy:default":
        app.Task.Strategy = "c2cwsgiutils.celery:strategy"
    if app.Task.Request == "celery.worker.request:Request":
        app.Task.Request = "c2cwsgiutils.celery:ContextRequest"
    if log_format:
        if app.conf.worker_log_format in _CELERY_DEFAULT_FORMATS:
            app.conf.worker_log_format = WORKER_LOG_FORMAT
        if app.conf.worker_task_log_format in _CELERY_DEFAULT_FORMATS:
            app.conf.worker_task_log_format = TASK_LOG_FORMAT
    # Celery's signals are process-wide; the dispatch uids make connecting again a no-op.
    for signal, receiver in (
        (signals.before_task_publish, _before_task_publish),
        (signals.after_task_publish, _after_task_publish),
        (signals.task_prerun, _task_prerun),
        (signals.task_postrun, _task_postrun),
        (signals.worker_process_init, _worker_process_init),
        (signals.after_setup_logger, _after_setup_logger),
        (signals.after_setup_task_logger, _after_setup_logger),
    ):
        signal.connect(receiver, weak=False, dispatch_uid=f"c2cwsgiutils.celery{receiver.__name__}")
    return app


def create_app(name: str, settings: Mapping[str, Any] | None = None, **conf: Any) -> Any:
    """A ``celery.Celery`` application named ``name``, set up with :func:`setup`.

    Broker: ``C2C_CELERY_BROKER_URL`` (default ``redis://127.0.0.1:6379/0``); result backend:
    ``C2C_CELERY_RESULT_BACKEND`` (default: the broker). ``settings`` are ini settings (the env
    vars win); ``conf`` goes to ``app.conf``.
    """
    from celery import Celery

    broker = BROKER_URL.get(settings)
    app = Celery(name, broker=broker, backend=RESULT_BACKEND.get(settings) or broker)
    app.conf.update(conf)
    return setup(app)

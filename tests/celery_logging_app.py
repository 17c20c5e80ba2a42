"""A Celery application that configures logging at import time, as docs/celery.md shows.

``celery -A tests.celery_logging_app worker``: the root logger gets a JSON file handler
(``C2C_TEST_CELERY_JSON_LOG``) before the worker starts; the worker must keep it.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os

from c2cwsgiutils.celery import create_app
from c2cwsgiutils.logging.record import record_to_dict

LOG = logging.getLogger(__name__)
PREFIX = os.environ.get("C2C_TEST_CELERY_PREFIX", "c2c_test_celery:")
QUEUE = os.environ.get("C2C_TEST_CELERY_QUEUE", "c2c_test_celery_logging")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_to_dict(record, formatter=self), default=repr)


logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "filters": {"context": {"()": "c2cwsgiutils.logging.filter.ContextFilter"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": os.environ.get("C2C_TEST_CELERY_JSON_LOG", os.devnull),
                "formatter": "json",
                "filters": ["context"],
            }
        },
        "root": {"level": "INFO", "handlers": ["file"]},
    }
)

app = create_app(
    "tests.celery_logging_app",
    task_default_queue=QUEUE,
    broker_transport_options={"global_keyprefix": PREFIX},
    result_backend_transport_options={"global_keyprefix": PREFIX},
    broker_connection_retry_on_startup=True,
    worker_enable_remote_control=False,
)


@app.task  # type: ignore[untyped-decorator]  # celery is untyped
def hello() -> str:
    LOG.info("hello from the worker")
    return "hello"

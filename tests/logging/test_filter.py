from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from c2cwsgiutils import context
from c2cwsgiutils.logging import ContextFilter, ContextFormatter
from c2cwsgiutils.logging import filter as context_filter


@pytest.fixture
def text_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(request_id)s|%(trace_id)s|%(kind)s|%(task_id)s|%(message)s"))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.filter")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_a_text_format_can_use_the_fields_in_a_request(
    text_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = text_logger
    with context.bind(request_id="r1", trace_id="t1", kind="web"):
        logger.info("hello")
    assert stream.getvalue() == "r1|t1|web||hello\n"


def test_outside_a_request_the_fields_are_empty_not_missing(
    text_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = text_logger
    logger.info("hello")
    assert stream.getvalue() == "||||hello\n"


def test_every_field_is_set() -> None:
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "m", (), None)
    with context.bind(
        request_id="r", trace_id="t", span_id="s", parent_span_id="p", kind="celery", task_id="k"
    ):
        assert ContextFilter().filter(record) is True
    assert [getattr(record, name) for name in context_filter.FIELDS] == ["r", "t", "s", "p", "celery", "k"]


def test_fields_set_where_the_record_was_created_are_kept() -> None:
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "m", (), None)
    with context.bind(request_id="at-creation"):
        ContextFilter().filter(record)
    with context.bind(request_id="later, in another handler"):
        ContextFilter().filter(record)
    assert record.request_id == "at-creation"  # type: ignore[attr-defined]


def test_the_context_formatter_works_without_the_filter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ContextFormatter("[%(request_id)s] %(message)s"))
    logger = logging.getLogger("tests.filter.formatter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with context.bind(request_id="fmt"):
            logger.warning("hello")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "[fmt] hello\n[] outside\n"


def test_install_adds_the_filter_once_to_every_configured_handler() -> None:
    handler = logging.StreamHandler(io.StringIO())
    logger = logging.getLogger("tests.filter.install")
    logger.addHandler(handler)
    try:
        context_filter.install()
        context_filter.install()
        assert [type(f) for f in handler.filters] == [ContextFilter]
    finally:
        logger.removeHandler(handler)


def test_the_logging_include_installs_the_filter() -> None:
    from pyramid.config import Configurator

    handler = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(handler)
    try:
        Configurator(settings={}).include("c2cwsgiutils.logging")
        assert any(isinstance(f, ContextFilter) for f in handler.filters)
    finally:
        logging.getLogger().removeHandler(handler)

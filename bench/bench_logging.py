"""End-to-end logging throughput: ``logger.info("...", extra={two fields})`` to a null stream.

Variants, each in its own process, alternated round by round:

- ``ours``: :class:`c2cwsgiutils.logging.JsonLogHandler` (configured as the Pyramid include leaves
  it; every line carries the correlation fields);
- ``python-json-logger``: ``pythonjsonlogger.json.JsonFormatter`` on a ``StreamHandler``;
- ``structlog``: structlog's ``JSONRenderer`` (with log level and ISO time stamp processors);
- ``stdlib text``: a ``StreamHandler`` with ``%(asctime)s %(levelname)-5.5s [%(name)s] %(message)s``;
- ``original 6.1.10``: the original c2cwsgiutils' ``JsonLogHandler`` (bench/.peers/original).

Usage: ``python bench/bench_logging.py [--rounds 9] [--records 20000] [--no-original]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness
from bench_request import ORIGINAL, NullStream

TEXT_FORMAT = "%(asctime)s %(levelname)-5.5s [%(name)s] %(message)s"


def _stdlib_logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger("bench.logging")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _log_function(variant: str) -> Callable[[int], None]:
    if variant == "structlog":
        import structlog

        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.PrintLoggerFactory(file=NullStream()),  # type: ignore[arg-type]
            cache_logger_on_first_use=True,
        )
        slog = structlog.get_logger("bench.logging")

        def run_structlog(iterations: int) -> None:
            for index in range(iterations):
                slog.info("user logged in", user="bob", attempt=index)

        return run_structlog

    stream = NullStream()
    if variant == "ours":
        from c2cwsgiutils.logging import JsonLogHandler, filter

        handler: logging.Handler = JsonLogHandler(stream)  # type: ignore[arg-type]
        filter.install([handler])  # what the Pyramid include does (a no-op: it reads the context itself)
    elif variant == "python-json-logger":
        from pythonjsonlogger.json import JsonFormatter

        handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    elif variant == "text":
        handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    elif variant == "original":
        from c2cwsgiutils.pyramid_logging import JsonLogHandler as OriginalHandler  # type: ignore[import-not-found]

        handler = OriginalHandler(stream)
    else:
        raise ValueError(variant)
    logger = _stdlib_logger(handler)

    def run(iterations: int) -> None:
        for index in range(iterations):
            logger.info("user logged in", extra={"user": "bob", "attempt": index})

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--no-original", action="store_true", help="skip the original 6.1.10")
    args = parser.parse_args()
    if args.worker:
        _harness.serve(_log_function(args.worker))
        return

    medians = _harness.compare_variants(
        Path(__file__).resolve(),
        [
            ("ours", "ours"),
            ("python-json-logger", "python-json-logger"),
            ("structlog", "structlog"),
            ("stdlib text", "text"),
        ],
        None if args.no_original else ORIGINAL,
        "# logger.info with two extras to a null stream",
        args.records,
        args.rounds,
        "rec",
    )
    ours = medians["ours"]
    for name, value in medians.items():
        if name != "ours":
            print(f"ours vs {name:<22} {value / ours:.2f}x the throughput")


if __name__ == "__main__":
    main()

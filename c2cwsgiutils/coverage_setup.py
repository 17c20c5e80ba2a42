"""6.x's ``c2cwsgiutils.coverage_setup``: measure the code coverage of a running service.

With ``COVERAGE=1`` in the environment, ``config.include("c2cwsgiutils.coverage_setup")`` starts
coverage.py in this process, writing one data file per process under ``/tmp/coverage/api``
(``coverage combine`` then ``coverage report`` read them). Nothing happens otherwise, or with one
warning when the ``coverage`` package is not installed.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["REPORT_DIR", "includeme", "init"]

LOG = logging.getLogger(__name__)
REPORT_DIR = "/tmp/coverage/api"  # noqa: S108 - 6.x's location, read by its report tooling


def includeme(config: Any = None) -> None:
    """Start measuring when ``COVERAGE=1``; returns without effect otherwise."""
    if os.environ.get("COVERAGE", "0") != "1":
        return
    try:
        import coverage  # type: ignore[import-not-found,unused-ignore]  # optional
    except ImportError:
        LOG.warning("COVERAGE=1 ignored: the 'coverage' package is not installed")
        return
    os.makedirs(REPORT_DIR, exist_ok=True)
    LOG.warning("Measuring the code coverage into %s", REPORT_DIR)
    measure = coverage.Coverage(
        data_file=os.path.join(REPORT_DIR, "coverage"), data_suffix=True, auto_data=True, branch=True
    )
    measure.start()


def init() -> None:
    """6.x's set-up (deprecated): ``config.include("c2cwsgiutils.coverage_setup")``."""
    from c2cwsgiutils._deprecated import warn

    warn("c2cwsgiutils.coverage_setup.init", 'config.include("c2cwsgiutils.coverage_setup")')
    includeme()

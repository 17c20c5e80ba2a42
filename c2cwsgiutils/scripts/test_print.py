"""``c2cwsgiutils-test-print``: print every example request of a MapFish Print server (6.x command).

``c2cwsgiutils-test-print --url https://host/print [--app NAME]``: for each application (or the
one given), the example requests are printed and each must give a PDF; the exit status is not 0
otherwise.
"""

from __future__ import annotations

import argparse
import logging
import pprint
import warnings

from c2cwsgiutils.acceptance.print import PrintConnection

__all__ = ["deprecated", "main", "test_app"]

LOG = logging.getLogger(__name__)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True, help="The base URL of the print, including the '/print'")
    parser.add_argument("--app", default=None, help="The print application name (default: all)")
    parser.add_argument("--referrer", default=None, help="The referrer (defaults to --url)")
    parser.add_argument("--verbose", default=False, action="store_true", help="Enable debug output")
    parser.add_argument("--timeout", type=int, default=60, help="Seconds to wait for the server, and per PDF")
    return parser.parse_args(argv)


def test_app(print_: PrintConnection, app: str, timeout: int = 60) -> None:  # noqa: PT028 - 6.x name
    """Print every example request of ``app``; raises ``AssertionError`` on the first failure."""
    LOG.debug("Capabilities of %s:\n%s", app, pprint.pformat(print_.get_capabilities(app)))
    for name, request in print_.get_example_requests(app).items():
        pdf = print_.get_pdf(app, request, timeout=timeout)
        LOG.info("%s %s: %d bytes", app, name, len(pdf.content))


test_app.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name


def main(argv: list[str] | None = None) -> None:
    """Run the command."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    print_ = PrintConnection(base_url=args.url, origin=args.referrer or args.url)
    print_.wait_ready(timeout=args.timeout, app=args.app or "default")
    apps = [args.app] if args.app else [app for app in print_.get_apps() if app != "default"]
    for app in apps:
        test_app(print_, app, args.timeout)


def deprecated() -> None:
    """6.x's ``c2cwsgiutils_test_print.py`` (deprecated): ``c2cwsgiutils-test-print``."""
    warnings.warn(
        "c2cwsgiutils_test_print.py is deprecated; use c2cwsgiutils-test-print",
        DeprecationWarning,
        stacklevel=2,
    )
    main()

"""The ``c2c://`` plaster loader (6.x): ``pserve c2c:///app/production.ini``, ``bootstrap("c2c://...")``.

A PasteDeploy loader whose interpolation defaults are the environment (``%(SQLALCHEMY_URL)s``
works without a ``[DEFAULT]`` entry) and whose ``setup_logging`` reads the ini's logging sections
as :func:`c2cwsgiutils.paste_config.setup_logging` does (``kwargs`` with ``ext://`` streams).
Registered for the ``c2c``, ``c2c+ini`` and ``c2c+egg`` schemes.
"""

from __future__ import annotations

import logging
from typing import Any

from plaster_pastedeploy import Loader as PasteDeployLoader

from c2cwsgiutils.gunicorn_conf import get_config_defaults

__all__ = ["Loader"]


class Loader(PasteDeployLoader):  # type: ignore[misc]
    """plaster_pastedeploy's loader with the environment as defaults."""

    def _get_defaults(self, defaults: dict[str, str] | None = None) -> dict[str, str]:
        merged = get_config_defaults()
        merged.update(defaults or {})
        return super()._get_defaults(merged)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f'c2cwsgiutils.loader.Loader(uri="{self.uri}")'

    def setup_logging(self, defaults: dict[str, str] | None = None) -> None:
        """Configure logging from the ini's logging sections (``basicConfig`` when it has none)."""
        from c2cwsgiutils import paste_config

        if not paste_config.setup_logging(self.uri.path):
            logging.basicConfig()

    def get_settings(self, section: str | None = None, defaults: dict[str, str] | None = None) -> Any:
        """The settings of ``section`` (default: the URI's fragment or ``main``)."""
        return super().get_settings(section, defaults)

"""Demo service: a small Pyramid application that uses c2cwsgiutils, meant to be copied from.

``main`` is the PasteDeploy application factory named by ``production.ini``
(``use = egg:c2cwsgiutils_demo``); ``create_app`` builds the same application from a settings
dict (what the tests use).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator


def create_app(settings: Mapping[str, Any]) -> Any:
    """Build the WSGI application from ``settings`` (the ``[app:main]`` section of the ini)."""
    with Configurator(settings=dict(settings)) as config:
        # Everything of the toolkit: JSON errors, request IDs, admin views ... (settings are
        # validated here: an invalid C2C_* value stops the application with one line).
        config.include("c2cwsgiutils.pyramid")
        config.include(".db")
        config.include(".views")
        config.include(".health")
        return config.make_wsgi_app()


def main(global_config: Mapping[str, str], **settings: str) -> Any:
    """PasteDeploy entry point (``use = egg:c2cwsgiutils_demo``)."""
    del global_config  # the environment is already interpolated into ``settings``
    return create_app(settings)

"""pytest plugin (registered under ``pytest11``): options and fixtures for acceptance tests.

Options (or ini keys of the same name with ``_`` instead of ``-``):

- ``--c2c-composition FILE``: a local-processes YAML (see :mod:`.composition`) started once per
  session by the ``c2c_composition`` fixture and stopped at the end, even when tests fail;
- ``--c2c-docker-compose FILE``: the same with ``docker compose``;
- ``--c2c-base-url URL``: the service the ``c2c_connection`` fixture talks to.

The fixtures carry the ``c2c_`` prefix so that installing the package does not hand every project
fixtures named ``composition`` and ``connection``. Those names still work in 7.x, with a
``DeprecationWarning`` naming the new one (a project's own fixture of that name takes precedence
over the plugin's, as for any pytest plugin); they go in 8.0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from c2cwsgiutils.acceptance.composition import Composition
from c2cwsgiutils.acceptance.connection import Connection


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("c2cwsgiutils", "c2cwsgiutils acceptance tests")
    for name, help_ in (
        ("c2c-composition", "local-processes YAML describing the services under test"),
        ("c2c-docker-compose", "docker compose file describing the services under test"),
        ("c2c-base-url", "base URL of the service under test"),
    ):
        group.addoption(f"--{name}", default=None, help=help_)
        parser.addini(name.replace("-", "_"), help_, default=None)


def _option(config: Any, name: str) -> str | None:
    value = config.getoption(name.replace("-", "_"))
    if value is None:
        value = config.getini(name.replace("-", "_"))
    return str(value) if value else None


@pytest.fixture(scope="session")
def c2c_composition(pytestconfig: Any) -> Iterator[Composition]:
    """The running composition (started once per session, always stopped at the end)."""
    local = _option(pytestconfig, "c2c-composition")
    docker = _option(pytestconfig, "c2c-docker-compose")
    if local:
        result = Composition.local(local)
    elif docker:
        result = Composition.docker_compose(docker)
    else:
        pytest.fail(
            "the c2c_composition fixture needs --c2c-composition or --c2c-docker-compose", pytrace=False
        )
    try:
        result.up()
        yield result
    finally:
        result.down()


@pytest.fixture
def c2c_connection(pytestconfig: Any) -> Iterator[Connection]:
    """A :class:`Connection` to ``--c2c-base-url``."""
    base_url = _option(pytestconfig, "c2c-base-url")
    if not base_url:
        pytest.fail("the c2c_connection fixture needs --c2c-base-url", pytrace=False)
    with Connection(base_url) as result:
        yield result


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"the pytest fixture {old!r} of c2cwsgiutils is deprecated: use {new!r} (removed in 8.0)",
        DeprecationWarning,
        stacklevel=2,
    )


@pytest.fixture(scope="session")
def composition(c2c_composition: Composition) -> Composition:
    """Deprecated since 7.0: :func:`c2c_composition`."""
    _deprecated("composition", "c2c_composition")
    return c2c_composition


@pytest.fixture
def connection(c2c_connection: Connection) -> Connection:
    """Deprecated since 7.0: :func:`c2c_connection`."""
    _deprecated("connection", "c2c_connection")
    return c2c_connection

"""6.x's ``c2cwsgiutils.stats_pyramid``: the request and SQL timers are :mod:`c2cwsgiutils.stats`
(``C2C_SQL_STATS=true`` for the SQL ones), included by ``c2cwsgiutils.pyramid``."""

from __future__ import annotations

from c2cwsgiutils._deprecated import init_alias, warn

includeme = init_alias(__name__, "c2cwsgiutils.stats")
init = init_alias(__name__, "c2cwsgiutils.stats")


def init_db_spy() -> None:
    """6.x's SQL timers (deprecated): set ``C2C_SQL_STATS=true`` or call ``stats.sql.instrument(engine)``."""
    warn(f"{__name__}.init_db_spy", "C2C_SQL_STATS=true")
    from c2cwsgiutils.stats import sql

    sql.instrument()  # every engine of the process

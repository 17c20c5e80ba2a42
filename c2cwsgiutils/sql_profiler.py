"""6.x's ``c2cwsgiutils.sql_profiler``: now :mod:`c2cwsgiutils.sql.profiler` (included by
``c2cwsgiutils.pyramid``)."""

from c2cwsgiutils._deprecated import init_alias

includeme = init_alias(__name__, "c2cwsgiutils.sql.profiler")
init = init_alias(__name__, "c2cwsgiutils.sql.profiler")

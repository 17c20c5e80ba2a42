"""6.x's ``c2cwsgiutils.db_maintenance_view``: now :mod:`c2cwsgiutils.db_maintenance`."""

from c2cwsgiutils._deprecated import init_alias

includeme = init_alias(__name__, "c2cwsgiutils.db_maintenance")
install_subscriber = init_alias(__name__, "c2cwsgiutils.db_maintenance")

"""6.x's ``c2cwsgiutils.sqlalchemylogger``: log records written to a database table.

See :class:`c2cwsgiutils.sqlalchemylogger.handlers.SQLAlchemyHandler`. For searching the logs of a
service, the log collector (``c2cwsgiutils-logs``) does more; this handler is kept for applications
that read such a table themselves.
"""

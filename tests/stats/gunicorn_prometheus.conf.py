# gunicorn configuration of test_prometheus.py: the hooks a user puts in their own gunicorn.conf.py.
from c2cwsgiutils.stats.prometheus import child_exit, on_starting  # noqa: F401

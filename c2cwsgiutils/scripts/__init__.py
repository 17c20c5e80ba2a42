"""Console entry points (``c2cwsgiutils_run`` ...)."""

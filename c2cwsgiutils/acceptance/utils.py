"""6.x's ``c2cwsgiutils.acceptance.utils``: the waiting helpers, now in
:mod:`c2cwsgiutils.acceptance.waiting`."""

from c2cwsgiutils._deprecated import aliases

__getattr__ = aliases(
    __name__,
    {name: f"c2cwsgiutils.acceptance.waiting.{name}" for name in ("wait_url", "retry_timeout", "approx")},
)

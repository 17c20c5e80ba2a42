"""6.x's ``c2cwsgiutils.debug.utils``: now :mod:`c2cwsgiutils.debug.sizes`."""

from c2cwsgiutils._deprecated import aliases

__getattr__ = aliases(
    __name__, {name: f"c2cwsgiutils.debug.sizes.{name}" for name in ("get_size", "dump_memory_maps")}
)

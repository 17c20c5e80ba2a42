"""Debug views that hunt memory leaks in the process that serves them (6.x's, without objgraph).

- ``debug/memory_diff?path=/api/x?a=1``: the object types whose count grew while this process
  served ``path`` (a sub-request): ``[[type, count after, growth], ...]``, biggest growth first
  (``limit``, default 30); ``debug/memory_diff/api/x`` is 6.x's older spelling.
- ``debug/memory_maps``: this process's memory maps (``/proc/self/smaps``), biggest PSS first.
- ``debug/show_refs.dot?analyze_type=module.Class``: a Graphviz graph of what refers to the
  objects of that type, ``max_depth`` levels up (default 3, at most 10), at most ``too_many``
  referrers per object (default 10), with each object's deep size; ``min_size_kb`` hides
  smaller objects.

All three need the debug secret. The graph and the diff look at one process: the one answering.
"""

from __future__ import annotations

import contextlib
import gc
import html
from collections import Counter
from collections.abc import Iterable
from typing import Any

from c2cwsgiutils.debug.sizes import dump_memory_maps, get_size

__all__ = ["memory_diff_view", "memory_maps_view", "show_refs_view", "type_counts"]

_MAX_DEPTH = 10
_MAX_NODES = 2000


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def type_counts() -> Counter[str]:
    """How many objects of each type the garbage collector tracks (types by full name)."""
    for generation in range(3):
        gc.collect(generation)
    return Counter(_type_name(type(obj)) for obj in gc.get_objects())


def _int_param(request: Any, name: str, default: int, maximum: int) -> int:
    from pyramid.httpexceptions import HTTPBadRequest

    raw = request.params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        raise HTTPBadRequest(f"{name} must be an integer between 0 and {maximum}")
    return value


def memory_diff_view(request: Any) -> list[list[Any]]:
    """Serve ``path`` in a sub-request and answer the growth of each type's object count."""
    from pyramid.httpexceptions import HTTPBadRequest, HTTPException

    limit = _int_param(request, "limit", 30, 10000)
    if request.matchdict and request.matchdict.get("path"):
        path = "/" + "/".join(request.matchdict["path"])
    else:
        path = request.params.get("path", "")
    if not path.startswith("/"):
        raise HTTPBadRequest("path must be an absolute path of this service, e.g. /api/ping")
    sub_request = request.copy()
    sub_request.path_info, _, sub_request.query_string = path.partition("?")
    sub_request.environ.pop("HTTP_X_API_KEY", None)  # the secret is not forwarded to the path
    if request.params.get("no_warmup", "0").lower() not in ("1", "true", "on"):
        # A first call fills the caches, which are not leaks; its failure shows in the measured call.
        with contextlib.suppress(Exception):
            request.invoke_subrequest(sub_request.copy())
    before = type_counts()
    with contextlib.suppress(HTTPException):
        request.invoke_subrequest(sub_request)
    after = type_counts()
    grown = sorted(
        ((after[name] - before.get(name, 0), name) for name in after if after[name] > before.get(name, 0)),
        key=lambda item: (-item[0], item[1]),
    )
    return [[name, after[name], delta] for delta, name in grown[:limit]]


def memory_maps_view(request: Any) -> list[dict[str, Any]]:
    """This process's memory maps, biggest proportional set size first."""
    return sorted(dump_memory_maps(), key=lambda entry: -int(entry.get("pss_kb", 0)))


def _objects_of_type(name: str) -> list[Any]:
    return [
        obj for obj in gc.get_objects() if _type_name(type(obj)) == name or type(obj).__qualname__ == name
    ]


def _label(obj: Any, with_size: bool) -> str:
    kind = type(obj)
    text = kind.__qualname__
    if isinstance(obj, dict):
        text += f" ({len(obj)} keys)"
    elif isinstance(obj, (list, tuple, set, frozenset)):
        text += f" ({len(obj)} items)"
    if with_size:
        text += f"\\n{get_size(obj) / 1024:.3f} kb\\n{id(obj)}"
    return html.escape(text, quote=True)


def show_refs(
    roots: Iterable[Any], max_depth: int, too_many: int, min_size: int = 0, with_size: bool = True
) -> str:
    """A dot graph of the referrers of ``roots``, breadth first (frames and this call excluded)."""
    import sys

    this_frame = sys._getframe()
    seen: dict[int, Any] = {}
    edges: list[tuple[int, int]] = []
    layer = [obj for obj in roots if get_size(obj) >= min_size] if min_size else list(roots)
    for obj in layer:
        seen[id(obj)] = obj
    ignored = {id(layer), id(seen), id(edges), id(this_frame)}
    for _ in range(max_depth):
        next_layer: list[Any] = []
        for obj in layer:
            referrers = [
                r
                for r in gc.get_referrers(obj)
                if id(r) not in ignored and not isinstance(r, type(this_frame)) and not isinstance(r, type)
            ]
            for referrer in referrers[:too_many]:
                edges.append((id(referrer), id(obj)))
                if id(referrer) not in seen and len(seen) < _MAX_NODES:
                    seen[id(referrer)] = referrer
                    next_layer.append(referrer)
        ignored.add(id(next_layer))
        layer = next_layer
    lines = ["digraph ObjectGraph {", "  node[shape=box, style=filled, fillcolor=white];"]
    lines += [f'  o{key} [label="{_label(obj, with_size)}"];' for key, obj in seen.items()]
    lines += [f"  o{source} -> o{target};" for source, target in edges if source in seen]
    lines.append("}")
    return "\n".join(lines) + "\n"


def show_refs_view(request: Any) -> Any:
    """The referrers graph of the objects of ``analyze_type`` (see the module documentation)."""
    from pyramid.httpexceptions import HTTPBadRequest
    from pyramid.response import Response

    name = request.params.get("analyze_type", "")
    if not name:
        raise HTTPBadRequest("analyze_type must name a type, e.g. builtins.dict or mymodule.MyClass")
    gc.collect()
    roots = _objects_of_type(name)
    text = show_refs(
        roots,
        max_depth=_int_param(request, "max_depth", 3, _MAX_DEPTH),
        too_many=_int_param(request, "too_many", 10, 1000),
        min_size=_int_param(request, "min_size_kb", 0, 10**9) * 1024,
        with_size=request.params.get("no_extra_info", "") == "",
    )
    del roots
    return Response(text, content_type="text/vnd.graphviz", charset="utf-8")

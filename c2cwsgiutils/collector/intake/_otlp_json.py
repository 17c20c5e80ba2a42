"""The values and fields of OTLP/JSON, checked: lowerCamelCase keys (snake_case taken too), hex
ids, 64-bit integers as numbers or decimal text, enums as numbers or names.

Compiled with mypyc, as :mod:`c2cwsgiutils.collector.intake._otlp_core` (see setup.py and
:mod:`c2cwsgiutils._compiled`); the same file runs as plain Python otherwise. Used by both paths of
:mod:`c2cwsgiutils.collector.intake.otlp` (the walk over a request is there): each raises
``OtlpError`` with what is wrong.
"""

from __future__ import annotations

import math
from typing import Any, Final

from c2cwsgiutils.collector.intake._otlp_core import MAX_DEPTH, OtlpError, hex_id

_SNAKE: Final[dict[str, str]] = {}  # lowerCamelCase -> snake_case, of the few names read here


def json_get(obj: Any, camel: str, default: Any = None) -> Any:
    """``obj[camel]``, else ``obj[snake_case of camel]``, else ``default``."""
    if camel in obj:
        return obj[camel]
    snake = _SNAKE.get(camel)
    if snake is None:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
        _SNAKE[camel] = snake
    return obj.get(snake, default)


def json_int(value: Any, what: str) -> int:
    """An integer of OTLP/JSON (a number, or its decimal text); 0 when absent; raises OtlpError."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise OtlpError(f"{what} must be an integer (or its decimal text)")
    try:
        return int(value)
    except ValueError:
        raise OtlpError(f"{what} must be an integer (or its decimal text)") from None


_SEVERITY_NAMES: Final = {
    f"SEVERITY_NUMBER_{name}{suffix}": base + offset
    for base, name in ((1, "TRACE"), (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"), (21, "FATAL"))
    for offset, suffix in enumerate(("", "2", "3", "4"))
}
_ENUM_NAMES: Final[dict[str, int]] = {
    **_SEVERITY_NAMES,
    "SEVERITY_NUMBER_UNSPECIFIED": 0,
    **{
        f"SPAN_KIND_{name}": number
        for number, name in enumerate(("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"))
    },
    **{f"STATUS_CODE_{name}": number for number, name in enumerate(("UNSET", "OK", "ERROR"))},
}


def json_enum(value: Any, what: str) -> int:
    """An enum of OTLP/JSON: its number (the specification), or its name (protobuf's JSON)."""
    if isinstance(value, str) and value in _ENUM_NAMES:
        return _ENUM_NAMES[value]
    return json_int(value, what)


def json_hex(value: Any, size: int, what: str) -> str | None:
    """An id of ``size`` bytes in hex (``None`` when absent or all zeros); raises OtlpError."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if not isinstance(value, str) or len(value) != size * 2:
        raise OtlpError(f"{what} must be {size * 2} hexadecimal digits")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise OtlpError(f"{what} must be {size * 2} hexadecimal digits") from None
    return hex_id(raw)


def json_any(value: Any, depth: int = 0) -> Any:
    """The value of an ``AnyValue`` object (its first known key wins); raises OtlpError."""
    if not isinstance(value, dict):
        return None
    if depth >= MAX_DEPTH:
        raise OtlpError(f"values nested deeper than {MAX_DEPTH} levels")
    if "stringValue" in value:
        return value["stringValue"]
    if "string_value" in value:
        return value["string_value"]
    if "intValue" in value:
        return json_int(value["intValue"], "intValue")
    if "int_value" in value:
        return json_int(value["int_value"], "int_value")
    if "doubleValue" in value:
        return _json_double(value["doubleValue"])
    if "double_value" in value:
        return _json_double(value["double_value"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "bool_value" in value:
        return bool(value["bool_value"])
    if "bytesValue" in value:
        return value["bytesValue"]
    if "bytes_value" in value:
        return value["bytes_value"]
    if "arrayValue" in value:
        return _json_array(value["arrayValue"], depth)
    if "array_value" in value:
        return _json_array(value["array_value"], depth)
    if "kvlistValue" in value:
        return _json_kvlist(value["kvlistValue"], depth)
    if "kvlist_value" in value:
        return _json_kvlist(value["kvlist_value"], depth)
    return None


def _json_array(value: Any, depth: int) -> list[Any]:
    items = json_get(value, "values", []) if isinstance(value, dict) else []
    return [json_any(item, depth + 1) for item in items] if isinstance(items, list) else []


def _json_kvlist(value: Any, depth: int) -> dict[str, Any]:
    items = json_get(value, "values", []) if isinstance(value, dict) else []
    return json_attributes(items, depth + 1)


def _json_double(value: Any) -> Any:
    if isinstance(value, str):  # "NaN", "Infinity"
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else str(number)  # JSON has no NaN nor Infinity
    return None


def json_attributes(items: Any, depth: int = 0) -> dict[str, Any]:
    """``{key: value}`` of a list of ``{key, value}`` objects; raises OtlpError."""
    if not isinstance(items, list):
        raise OtlpError("attributes must be a list of {key, value}")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise OtlpError("attributes must be a list of {key, value}")
        out[item["key"]] = json_any(item.get("value"), depth)
    return out


def json_list(obj: Any, camel: str) -> list[Any]:
    """The list of objects under ``camel`` (empty when absent); raises OtlpError."""
    value = json_get(obj, camel, [])
    if not isinstance(value, list):
        raise OtlpError(f"{camel} must be a list of objects")
    for item in value:
        if not isinstance(item, dict):
            raise OtlpError(f"{camel} must be a list of objects")
    return value


def json_text(value: Any) -> str:
    """``value`` when it is a string, else ``""``."""
    return value if isinstance(value, str) else ""

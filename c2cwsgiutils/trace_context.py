"""W3C Trace Context, level 2: parsing and formatting of the ``traceparent`` and ``tracestate`` headers.

Re-exported by :mod:`c2cwsgiutils.context`; what the integrations do with the headers is described
there and in :mod:`c2cwsgiutils.request_tracking`. The rules followed, from the specification
(https://www.w3.org/TR/trace-context-2/) and the checks of its test harness:

``traceparent``
    ``version-trace_id-parent_id-flags`` in lower-case hex, surrounded by optional spaces or tabs.
    Version ``ff``, all-zero ids and extra fields on version ``00`` make it invalid (a new trace
    starts and ``tracestate`` is dropped); a higher version is read by its first four fields, which
    must be followed by nothing or by ``-``. Of the flags, ``sampled`` (bit 0) and ``random``
    (bit 1: the trace id is random) are kept; the other bits are set to zero when propagating.

``tracestate``
    A list of ``key=value`` members separated by commas; spaces and tabs around members and empty
    members are ignored, several headers are one list. The whole header is dropped when a member
    does not follow the grammar (a key of 1-256 of ``a-z 0-9 _ - * / @`` starting with a letter or
    digit; a value of 1-256 printable ASCII characters but ``,`` and ``=``, not ending with a
    space) or when there are more than 32 members: it can never carry a control character into a
    header or a log line. Duplicate keys are passed on as received (the specification lets a
    vendor drop those it did not write, or not). Past 512 characters the list is truncated by
    whole members: those over 128 characters first (from the right), then from the end.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "MAX_TRACESTATE_LENGTH",
    "MAX_TRACESTATE_MEMBERS",
    "Traceparent",
    "format_traceparent",
    "parse_traceparent",
    "parse_tracestate",
]

MAX_TRACESTATE_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512
"""Characters of ``tracestate`` propagated at most (the minimum the specification asks for)."""
_LONG_MEMBER = 128
_OWS = " \t"

_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# version 00: exactly 55 characters; a higher version: its four fields, then the end or "-".
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]([0-9a-f])(-.*)?", re.DOTALL
).fullmatch
_SAMPLED = frozenset("13579bdf")  # the last hex digit of the flags, bit 0
_RANDOM = frozenset("2367abef")  # bit 1
_new_tuple = tuple.__new__
_MEMBER_PATTERN = (
    r"[a-z0-9][a-z0-9_\-*/@]{0,255}"  # key
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"  # value
)
_MEMBER = re.compile(_MEMBER_PATTERN).fullmatch
# The common case, a list already in its normal form (no spaces, no empty member), in one match.
_NORMAL_LIST = re.compile(
    rf"{_MEMBER_PATTERN}(?:,{_MEMBER_PATTERN}){{0,{MAX_TRACESTATE_MEMBERS - 1}}}"
).fullmatch
# Flags as sent: sampled + 2 * random.
_FLAGS = ("00", "01", "02", "03")


class Traceparent(NamedTuple):
    """A valid incoming ``traceparent``."""

    trace_id: str
    parent_id: str
    """The caller's span id."""
    sampled: bool
    random: bool
    """The ``random-trace-id`` flag: the caller says the trace id is random."""


def parse_traceparent(value: str | None) -> Traceparent | None:
    """Parse a W3C ``traceparent`` header.

    Returns ``None`` for anything the specification says to ignore: wrong shape, version ``ff``,
    all-zero ids, extra fields on version ``00``.
    """
    if not value:
        return None
    if value[0] in _OWS or value[-1] in _OWS:
        value = value.strip(_OWS)
    match = _TRACEPARENT(value)
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return _new_tuple(Traceparent, (trace_id, span_id, flags in _SAMPLED, flags in _RANDOM))


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True, random: bool = True) -> str:
    """Build a version-00 ``traceparent`` header with the ``sampled`` and ``random`` flags."""
    return f"00-{trace_id}-{span_id}-{_FLAGS[bool(sampled) + 2 * bool(random)]}"


def parse_tracestate(value: str | None) -> str:
    """The ``tracestate`` to propagate for an incoming header, in its normal form ("" for none).

    ``value`` is the header, several headers joined by commas (as WSGI servers give them). See the
    module's documentation for what is kept.
    """
    if not value:
        return ""
    if len(value) <= MAX_TRACESTATE_LENGTH and _NORMAL_LIST(value) is not None:
        return value
    members: list[str] = []
    for raw in value.split(","):
        member = raw.strip(_OWS)
        if not member:
            continue
        if _MEMBER(member) is None or len(members) == MAX_TRACESTATE_MEMBERS:
            return ""
        members.append(member)
    return ",".join(_truncate(members))


def _truncate(members: list[str]) -> list[str]:
    # Whole members only: the long ones first, from the right, then from the end.
    length = sum(map(len, members)) + len(members) - 1
    if length <= MAX_TRACESTATE_LENGTH:
        return members
    for index in range(len(members) - 1, -1, -1):
        if len(members[index]) > _LONG_MEMBER:
            length -= len(members[index]) + 1
            del members[index]
            if length <= MAX_TRACESTATE_LENGTH:
                return members
    while members and length > MAX_TRACESTATE_LENGTH:
        length -= len(members.pop()) + 1
    return members

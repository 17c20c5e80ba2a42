"""Percent-decoding in slices decodes as urllib.parse.unquote, in bounded memory."""

from __future__ import annotations

import resource
import subprocess
import sys
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c2cwsgiutils.collector.intake.percent_decoding import unquote_in_slices

PIECES = st.sampled_from(
    ["%", "%C3", "%A9", "%E2", "%82", "%AC", "%F0", "%9F", "%98", "%80", "a", "%41", "é", "%4", "%%", "x"]
)


@settings(deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=80), st.integers(17, 40))
def test_slices_decode_as_the_whole(pieces: list[str], slice_size: int) -> None:
    text = "".join(pieces)
    assert unquote_in_slices(text, slice_size) == unquote(text)


def test_sixteen_megabytes_of_escapes_stay_within_a_small_factor() -> None:
    text = "%C3%A9" * (16 * 1024 * 1024 // 6)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decoded = unquote_in_slices(text)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert decoded == "é" * (len(text) // 6)
    assert grown_kb < 8 * len(text) // 1024, f"peak grew by {grown_kb // 1024} MB for {len(text) >> 20} MB"


_PEAK_OF_A_FORM = """
import resource, sys
from c2cwsgiutils.collector.intake import ingest
body = sys.stdin.buffer.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
row = ingest.parse_form_body(body)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, len(row[4]))
"""


@pytest.mark.parametrize(
    "body",
    [
        # (name and levelno: a form without them is refused, issue #17)
        b"name=x&levelno=20&msg=" + b"%C3%A9" * (16 * 1024 * 1024 // 6),  # 1.6 GB of RSS before issue #18
        b"name=x&levelno=20&msg=" + b"%" * (4 * 1024 * 1024),  # 783 MB
        b"name=x&levelno=20&msg=" + b"%41a" * (1024 * 1024),
    ],
    ids=["utf8-escapes", "lone-percents", "ascii-escapes"],
)
def test_a_form_body_is_parsed_within_a_small_factor_of_its_size(body: bytes) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _PEAK_OF_A_FORM],
        input=body,
        capture_output=True,
        check=True,
        timeout=120,
    )
    grown_kb, message_length = map(int, result.stdout.split())
    assert message_length > 0
    assert grown_kb * 1024 < 4 * len(body), (
        f"peak RSS grew by {grown_kb >> 10} MB for a {len(body) >> 20} MB form"
    )

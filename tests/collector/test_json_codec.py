"""The collector's JSON: answers encoded and stored data decoded quickly, with what the fast path
refuses still handled as before (#21)."""

from __future__ import annotations

import datetime
import json
import math

from c2cwsgiutils.collector.http.api import json_bytes
from c2cwsgiutils.collector.storage.backends import json_loads


def test_answers_keep_non_ascii_text_and_non_string_keys() -> None:
    assert json.loads(json_bytes({"message": "café ☕", 3: [1, 2.5, None, True]})) == {
        "message": "café ☕",
        "3": [1, 2.5, None, True],
    }


def test_answers_write_datetimes_and_other_objects_as_their_str() -> None:
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert json.loads(json_bytes({"at": moment, "set": frozenset()})) == {
        "at": str(moment),
        "set": "frozenset()",
    }


def test_an_integer_past_64_bits_is_still_encoded() -> None:
    assert json.loads(json_bytes({"big": 2**70})) == {"big": 2**70}


def test_stored_data_that_the_fast_decoder_refuses_is_still_read() -> None:
    assert json_loads('{"a": [1, "é"]}') == {"a": [1, "é"]}
    assert json_loads('{"big": 1180591620717411303424}') == {"big": 2**70}
    assert math.isnan(json_loads('{"x": NaN}')["x"])

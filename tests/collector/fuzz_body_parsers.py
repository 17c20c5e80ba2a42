"""atheris fuzz target of the collector's body parsers (run by test_fuzz_body_parsers.py).

    python tests/collector/fuzz_body_parsers.py -max_total_time=20

Each input goes through every way a body is read: gzip decoding, NDJSON batches, one JSON object,
HTTPHandler forms, the nesting-depth check and percent-decoding in slices. Invariants: only the
documented errors are raised (BadRecord, BodyTooLarge, ValueError), percent-decoding in slices
equals ``urllib.parse.unquote``, a parsed batch accounts for each non-empty line.
"""

from __future__ import annotations

import contextlib
import sys
import time
import urllib.parse

import atheris  # type: ignore[import-untyped]  # no stubs

_started = time.monotonic()
# The dependencies first, not instrumented (SQLAlchemy is large): only the collector's own code is.
import orjson  # noqa: E402, F401
import sqlalchemy  # noqa: E402, F401

with atheris.instrument_imports(include=["c2cwsgiutils"]):
    from c2cwsgiutils.collector.intake import ingest, percent_decoding


def fuzz_one(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    mode = provider.ConsumeIntInRange(0, 5)
    body = provider.ConsumeBytes(provider.remaining_bytes())
    if mode == 0:
        with contextlib.suppress(ValueError):  # BodyTooLarge is one
            ingest.decode_body(body, "gzip", 1 << 20)
    elif mode == 1:
        try:
            batch = ingest.parse_ndjson(body, 1000)
        except ingest.BodyTooLarge:
            return
        lines = sum(1 for line in body.split(b"\n") if line.strip())
        assert batch.lines == len(batch.rows) + len(batch.errors) <= max(lines, 1)
    elif mode == 2:
        with contextlib.suppress(ingest.BadRecord):
            ingest.parse_json_object(body)
    elif mode == 3:
        with contextlib.suppress(ValueError):  # BadRecord is one
            ingest.parse_form_body(body)
    elif mode == 4:
        ingest._too_deep(body)
    else:
        text = body.decode("latin-1")
        assert percent_decoding.unquote_in_slices(text, 17) == urllib.parse.unquote(text)


def main() -> None:
    print(f"fuzz target ready in {time.monotonic() - _started:.1f} s", file=sys.stderr)
    atheris.Setup(sys.argv, fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

"""Bodies turned into rows of the wire schema (:mod:`c2cwsgiutils.collector.wire`).

:mod:`.ingest` is the reference parser (HTTPHandler forms, JSON objects, NDJSON batches);
``_form_core`` and ``_batch_core`` are its compiled fast paths (a test compares them on random
records); :mod:`.otlp` decodes OTLP/HTTP bodies and :mod:`.parsers` the log files that
``c2cwsgiutils-logs ingest`` reads.
"""

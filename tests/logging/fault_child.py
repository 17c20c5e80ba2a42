"""A process logging numbered records through a CollectorHandler, for the spool fault suite.

``python -m tests.logging.fault_child URL SPOOL_DIR COUNT [--prefix P] [--big BYTES]
[--max-bytes N] [--queue-size N] [--max-record-bytes N] [--pace] [--linger S]``: logs one record
of ``BYTES`` bytes first when asked (message ``{prefix}big``), then ``{prefix}{i}`` for i in
``range(COUNT)`` (``--pace``: a short pause every 100), stays ``S`` seconds, closes the handler and
prints one JSON line: its pid and the handler's counters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from c2cwsgiutils.logging.collector_handler import CollectorHandler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("spool_dir")
    parser.add_argument("count", type=int)
    parser.add_argument("--prefix", default="r")
    parser.add_argument("--big", type=int, default=0)
    parser.add_argument("--max-bytes", type=int, default=None)
    parser.add_argument("--queue-size", type=int, default=None)
    parser.add_argument("--max-record-bytes", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--pace", action="store_true")
    parser.add_argument("--linger", type=float, default=0.0)
    args = parser.parse_args()
    handler = CollectorHandler(
        url=args.url,
        service="fault",
        spool_dir=args.spool_dir,
        spool_max_bytes=args.max_bytes,
        queue_size=args.queue_size,
        batch_age=0.05,
        retry_min=0.05,
        retry_max=0.2,
        flush_timeout=1,
        timeout=2,
        max_record_bytes=args.max_record_bytes,
    )
    log = logging.getLogger("fault")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    if args.big:
        log.info("%sbig", args.prefix, extra={"blob": "x" * args.big})
    for i in range(args.count):
        log.info("%s%d", args.prefix, i)
        if args.pace and i % 100 == 99:
            time.sleep(0.02)
    time.sleep(args.linger)
    handler.close()
    print(json.dumps({"pid": os.getpid(), **handler.stats()}), flush=True)


if __name__ == "__main__":
    main()

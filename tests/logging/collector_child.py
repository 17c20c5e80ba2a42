"""A process that logs through a CollectorHandler configured by dictConfig, then exits (or dies).

``python -m tests.logging.collector_child URL SPOOL_DIR COUNT [--prefix P] [--flush-timeout S]
[--timeout S] [--sigkill]``: logs COUNT records ``{prefix}{i}``; with ``--sigkill`` it flushes
(into the spool when the collector is down) and kills itself without any clean-up, otherwise it
returns normally and the handler's exit flush runs.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import signal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("spool_dir")
    parser.add_argument("count", type=int)
    parser.add_argument("--prefix", default="record ")
    parser.add_argument("--flush-timeout", default="2")
    parser.add_argument("--timeout", default="10")
    parser.add_argument("--sigkill", action="store_true")
    args = parser.parse_args()
    logging.config.dictConfig(
        {
            "version": 1,
            "handlers": {
                "collector": {
                    "class": "c2cwsgiutils.logging.collector_handler.CollectorHandler",
                    "url": args.url,
                    "service": "child",
                    "spool_dir": args.spool_dir,
                    "flush_timeout": args.flush_timeout,
                    "timeout": args.timeout,
                    "batch_age": "0.05",
                    "retry_min": 0.05,
                    "retry_max": 0.2,
                }
            },
            "root": {"level": "INFO", "handlers": ["collector"]},
        }
    )
    log = logging.getLogger("child")
    for i in range(args.count):
        log.info("%s%d", args.prefix, i)
    if args.sigkill:
        logging.getLogger().handlers[0].flush()
        os.kill(os.getpid(), signal.SIGKILL)
    print("done", flush=True)


if __name__ == "__main__":
    main()

# A gunicorn.conf.py as 6.x applications write it (its helpers from c2cwsgiutils).
import os
from typing import Any

from c2cwsgiutils import get_config_defaults, get_logconfig_dict, get_paste_config, prometheus

bind = os.environ["BIND"]
worker_class = "gthread"
workers = 1
threads = 4

paste = get_paste_config()
wsgi_app = paste
logconfig_dict = get_logconfig_dict(paste)
raw_paste_global_conf = ["=".join(e) for e in get_config_defaults().items()]


def on_starting(server: Any) -> None:
    prometheus.start()


def post_fork(server: Any, worker: Any) -> None:
    prometheus.cleanup()

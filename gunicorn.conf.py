"""gunicorn settings for `make run` and for production (README, "Production").

Workers and threads come from the environment: WEB_CONCURRENCY (processes, default 2) and
GUNICORN_THREADS (threads per process, default 4). The bind address comes from the command
line (`make run` passes 127.0.0.1:$PORT); behind a reverse proxy keep it on loopback.
"""

import os

wsgi_app = "portal.wsgi:application"
bind = [f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # uploads of large DICOM studies
graceful_timeout = 20
# no access log: request lines carry query strings (search terms, tokens), which stay out of logs
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def post_worker_init(worker):
    # the application's own objects (Django, DRF, the models, the URL patterns: about 180,000)
    # are loaded now and live as long as the worker; out of the collector's sight, a full
    # collection no longer walks them (it paused every thread of the worker for about 80 ms)
    import gc

    gc.freeze()


def child_exit(server, worker):
    # prometheus_client's multiprocess mode: a dead worker's live gauges must not be summed
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

import os

from celery import Celery
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)
from celery.worker.consumer import Consumer as _CeleryConsumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class Consumer(_CeleryConsumer):
    """Celery's consumer without the Gossip step (settings.CELERY_WORKER_CONSUMER): worker
    elections are not used, and on every broker reconnect the step failed to restart
    ("Error on restarting Gossip: AttributeError")."""

    gossip = None

    class Blueprint(_CeleryConsumer.Blueprint):
        default_steps = [s for s in _CeleryConsumer.Blueprint.default_steps if not s.endswith(":Gossip")]


app = Celery("qmedchain")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from portal import task_signals  # noqa: E402,F401  (request ids and task metrics: connects its signals)

WORKER_APPLICATION_NAME = "qmedchain-worker"


# Database connections in worker processes live like a request's (CONN_MAX_AGE, health
# check before reuse) instead of one new connection per task: Celery's Django fixup closes
# them around every task (celery#9824) unless CELERY_DB_REUSE_MAX is set, and a new
# PostgreSQL backend per task cost ~3 ms of worker CPU per scan plus the server's. A task
# that did not succeed (an error, a retry, a soft time limit that may have interrupted a
# query) leaves no connection behind: its connection is closed, not checked.


@task_prerun.connect
def _db_before_task(task=None, **kwargs):
    if task is not None and not task.request.is_eager:
        from django.db import close_old_connections

        close_old_connections()  # too old, or errors since: closed; and re-checked on first use


@task_postrun.connect
def _db_after_task(task=None, state=None, **kwargs):
    if task is None or task.request.is_eager:
        return
    if state == "SUCCESS":
        from django.db import close_old_connections

        close_old_connections()
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()


@worker_init.connect
def _name_worker_connections(**kwargs):
    """Worker connections show as `qmedchain-worker` in pg_stat_activity."""
    from django.conf import settings

    for db in settings.DATABASES.values():
        if db["ENGINE"].endswith("postgresql"):
            db.setdefault("OPTIONS", {}).setdefault("application_name", WORKER_APPLICATION_NAME)


@worker_process_init.connect
def _start_ledger_appender(**kwargs):
    """Each pool process signs and appends ledger entries on its own thread
    (`ledger.appender`), so scans do not wait for signatures."""
    from django.conf import settings

    if settings.LEDGER_APPENDER_THREAD:
        from ledger import appender

        appender.start()


@worker_process_shutdown.connect
def _stop_ledger_appender(**kwargs):
    from ledger import appender

    appender.stop()  # its last batch; anything later stays pending for the next appender

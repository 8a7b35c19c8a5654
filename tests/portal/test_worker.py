import pytest

from portal.models import WorkerHeartbeat
from portal.tasks import heartbeat
from tests.conftest import wait_for


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_a_task_against_the_test_database(celery_worker):
    assert not WorkerHeartbeat.objects.exists()
    heartbeat.delay()
    row = wait_for(lambda: WorkerHeartbeat.objects.first(), timeout=60, what="the worker's heartbeat row")
    assert row.hostname.startswith("test-")

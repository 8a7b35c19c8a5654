from celery import shared_task
from django.utils import timezone

from portal.models import WorkerHeartbeat


@shared_task(name="portal.heartbeat")
def heartbeat() -> str:
    hostname = heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"last_seen": timezone.now()})
    return hostname


@shared_task(name="portal.consents_sweep", acks_late=True)
def consents_sweep() -> dict:
    from portal.consent_services import consents_sweep as sweep

    return sweep()

"""The readings behind /metrics' own gauges, taken when Prometheus scrapes (no state kept)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

# transports whose "queue" is not a broker-side list a scrape can measure
_UNMEASURED_TRANSPORTS = {"filesystem", "memory"}


def pending_events() -> int:
    from ledger.models import PendingEvent

    return PendingEvent.objects.count()


def _age_seconds(newest) -> float | None:
    return None if newest is None else max(0.0, (timezone.now() - newest).total_seconds())


def newest_checkpoint_age() -> float | None:
    """Seconds since the newest checkpoint was signed; None before the first one."""
    from ledger.models import Checkpoint

    return _age_seconds(Checkpoint.objects.order_by("-id").values_list("created_at", flat=True).first())


def newest_witnessed_checkpoint_age() -> float | None:
    """Seconds since a checkpoint last reached the witness quorum; None before the first one."""
    from federation.models import WitnessedCheckpoint

    newest = (
        WitnessedCheckpoint.objects.order_by("-witnessed_at").values_list("witnessed_at", flat=True).first()
    )
    return _age_seconds(newest)


def queue_depth() -> int:
    """Messages waiting in the default Celery queue on the broker; -1 when it can't be told."""
    from kombu import Connection
    from kombu.exceptions import ChannelError

    url = settings.CELERY_BROKER_URL
    if url.split(":", 1)[0] in _UNMEASURED_TRANSPORTS:
        return -1
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    try:
        with Connection(url, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            try:
                _, depth, _ = conn.default_channel.queue_declare(queue=queue, passive=True)
            # never declared, or (on Redis, where an empty queue has no key) empty: nothing waits
            except (ChannelError, *conn.channel_errors):
                return 0
            return int(depth)
    except Exception:  # broker down or unreadable: a scrape must still answer
        return -1

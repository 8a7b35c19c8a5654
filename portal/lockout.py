"""Login lock-out: per account, and per client address at a much higher threshold.

django-axes locks an account (``AXES_LOCKOUT_PARAMETERS = ["username"]``) after
``AXES_FAILURE_LIMIT`` failures against it from any address. An address is refused only
after ``QMC_LOCKOUT_IP_FAILURES`` failures of its own within the cool-off window: behind a
proxy (or a hospital's NAT) every user shares one address, so a few failures on made-up
names must not lock everyone out, while a password-spraying address is still stopped.
Failures are rows in the database (axes' AccessAttempt), shared by every process.
"""

import logging

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum

log = logging.getLogger(__name__)


def address_failures(request) -> int:
    """Failed logins from the request's client address (any username) within the cool-off."""
    address = getattr(request, "axes_ip_address", None)
    if not address:
        return 0
    attempts = AccessAttempt.objects.filter(
        ip_address=address, attempt_time__gte=get_cool_off_threshold(request)
    )
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


class AccountAndAddressHandler(AxesDatabaseHandler):
    def is_locked(self, request, credentials=None) -> bool:
        return (
            super().is_locked(request, credentials)
            or address_failures(request) >= settings.QMC_LOCKOUT_IP_FAILURES
        )

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        failures = address_failures(request)
        if failures >= settings.QMC_LOCKOUT_IP_FAILURES:
            # axes only flags the request when the account's own count is over its limit
            request.axes_locked_out = True
            request.axes_credentials = credentials
            log.warning("Locking out a client address after %d failed logins from it.", failures)

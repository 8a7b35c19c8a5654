"""Quiet logs for expected refusals.

Django's request logger writes a 403 raised as PermissionDenied as a warning *with the
exception's traceback*: a page refusing a role, or a policy denial, is expected and already
recorded (the ledger, the access history), so the traceback is noise. This filter keeps the
one-line warning ("Forbidden (Permission denied): /path") and drops the traceback. Anything
else (a 500's traceback included) is left alone. Installed on the "django.request" logger in
settings.LOGGING.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


class ExpectedRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info
        if exc and exc[0] is not None and issubclass(exc[0], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True

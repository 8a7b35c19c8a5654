"""Log lines with a request id: JSON in production, text in development (LOG_FORMAT).

The request id comes from the web request (`portal.request_id` middleware: the client's
X-Request-ID when it is well formed, else a new one), travels with every Celery task the
request enqueued (a message header, `portal.celery`), and is on every line logged while the
request or the task runs, with the task's id. No Django here: settings.LOGGING names the
filter and the formatters.

What a line may carry: ids (request, task, scan, user pk), counts, durations, states.
Never a name, a birth date, an MRN or an image: messages are written by us, not copied from
user input, and tests/portal/test_logs.py scans one scan's logs for the patient's data.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("qmc_request_id", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("qmc_task_id", default=None)

# what a client may send as X-Request-ID (a UUID, or a proxy's own id such as nginx's
# $request_id): letters, digits, "-", "_", ".", 8 to 64 characters. Anything else is replaced.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# the message header that carries the request id into a Celery task
TASK_HEADER = "qmc_request_id"


def valid_request_id(value: str | None) -> bool:
    return bool(value) and _REQUEST_ID.fullmatch(value or "") is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Puts the current request id and task id on every record (None outside either)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.task_id = task_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message,
    request_id, task_id, and exc (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "task_id": getattr(record, "task_id", None),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The development format, with the request id (or "-") after the level."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def logging_config(*, fmt: str, level: str) -> dict:
    """settings.LOGGING for LOG_FORMAT `fmt` ("json" or "text")."""
    if fmt not in {"json", "text"}:
        raise ValueError("LOG_FORMAT must be json or text")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "core.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "core.logs.JsonFormatter"},
            "text": {"()": "core.logs.TextFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"axes": {"level": "WARNING"}},
    }

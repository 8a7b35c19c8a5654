"""Run the DICOM Storage SCP (C-ECHO, C-STORE, study-level C-FIND) for modalities and PACS.

    python manage.py dicom_scp --port 11112 --ae-title QMC [--bind 0.0.0.0]

Callers are the DICOM peers configured per organisation (admin: DICOM peers); anyone else is
refused at association. See imaging.dimse.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from imaging.dimse import scp


class Command(BaseCommand):
    help = "Run the DICOM Storage SCP (C-ECHO, C-STORE, study-level C-FIND)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=11112, help="TCP port (default 11112)")
        parser.add_argument("--ae-title", default="QMC", help="the SCP's own AE title (default QMC)")
        parser.add_argument(
            "--bind",
            default="127.0.0.1",
            help="address to listen on (default 127.0.0.1; 0.0.0.0 for the hospital network)",
        )

    def handle(self, *args, port: int, ae_title: str, bind: str, **options):
        title = ae_title.strip()
        if not 1 <= len(title) <= 16 or "\\" in title or not title.isascii():
            raise CommandError("--ae-title: 1-16 ASCII characters without a backslash.")
        if not 0 < port < 65536:
            raise CommandError("--port: a TCP port number (1-65535).")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

        def ready() -> None:
            self.stdout.write(f"DICOM SCP {title} listening on {bind}:{port}")
            self.stdout.flush()

        try:
            scp.serve(ae_title=title, host=bind, port=port, stop=stop, ready=ready)
        except OSError as exc:
            raise CommandError(f"cannot listen on {bind}:{port}: {exc.strerror}") from exc

"""Upload demo scans through the real upload service (the pipeline then runs on the worker).

    python manage.py seed_scans --patient <username> [--uploader <username>]

Files: pydicom's bundled CT_small.dcm and MR_small.dcm, a generated 512x512 PNG and a
generated 1024x768 JPEG (synthetic patterns, no patient data). Skips a patient who already
has scans unless --force.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from django.core.management.base import BaseCommand, CommandError

from imaging.models import Scan
from imaging.services import scan_upload
from portal.models import User


def demo_files() -> list[tuple[str, bytes]]:
    from pydicom.data import get_testdata_file

    out = [(n, Path(get_testdata_file(n)).read_bytes()) for n in ("CT_small.dcm", "MR_small.dcm")]
    yy, xx = np.mgrid[0:512, 0:512]
    chest = np.exp(-(((xx - 256) / 170.0) ** 2 + ((yy - 256) / 210.0) ** 2)) * 200 + 30
    out.append(("generated.png", cv2.imencode(".png", chest.astype(np.uint8))[1].tobytes()))
    rng = np.random.default_rng(7)
    noise = cv2.GaussianBlur(rng.normal(120, 50, (768, 1024)).clip(0, 255).astype(np.uint8), (15, 15), 5)
    out.append(("generated.jpg", cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()))
    return out


class Command(BaseCommand):
    help = "Upload demo scans (pydicom test DICOMs, generated PNG/JPEG) through the real pipeline."

    def add_arguments(self, parser):
        parser.add_argument("--patient", required=True, help="username of the patient")
        parser.add_argument("--uploader", help="username of the uploader (default: the patient)")
        parser.add_argument("--force", action="store_true", help="upload even if the patient has scans")

    def handle(self, *args, patient, uploader=None, force=False, **opts):
        try:
            p = User.objects.get(username=patient, role="patient")
            u = User.objects.get(username=uploader) if uploader else p
        except User.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        if Scan.objects.filter(patient=p).exists() and not force:
            self.stdout.write(f"{p.username} already has scans; skipping (use --force)")
            return
        for name, data in demo_files():
            scan = scan_upload(uploader=u, patient=p, file=data, file_name=name)
            self.stdout.write(f"queued {name} as scan {scan.id}")

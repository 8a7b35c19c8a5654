"""``python manage.py ood_gate train|evaluate`` — the applicability gate's OOD detector.

``train`` (seeded) fits ``imaging.ml.ood`` on the train split of a MedMNIST ``.npz``,
thresholds it on validation and evaluates it on the OOD set of ``imaging.ml.ood_set`` built
with the pipeline's own DICOM decoder (``imaging.decode``, which ``imaging.ml`` may not
import), then rewrites ``imaging/ml/artifacts/ood.{npz,json,md}``. ``evaluate`` prints the
stored numbers. Needs no database.
"""

from __future__ import annotations

import json
import os

from django.core.management.base import BaseCommand, CommandError

DEFAULT_DATA = "/work/shared/data/pneumoniamnist_trainval.npz"


class Command(BaseCommand):
    help = "Train (seeded) or show the applicability gate's out-of-distribution detector."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        tr = sub.add_parser("train", help="fit, threshold and evaluate; rewrites the committed artifact")
        tr.add_argument("--data", default=os.environ.get("PNEUMONIAMNIST_NPZ", DEFAULT_DATA))
        tr.add_argument("--seed", type=int, default=None)
        sub.add_parser("evaluate", help="print the stored gate numbers (AUROC, pass and refusal rates)")

    def handle(self, *args, **options):
        from imaging.decode import decode
        from imaging.ml import ood
        from imaging.ml.data import DatasetError

        if options["action"] == "evaluate":
            try:
                det = ood.load_detector()
            except (FileNotFoundError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(json.dumps({"sha256": det.sha256, **det.card["evaluation"]}, indent=2))
            return
        seed = ood.DEFAULT_SEED if options["seed"] is None else options["seed"]
        try:
            card = ood.train_and_save(options["data"], decode=decode, seed=seed, log=self.stdout.write)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(card["evaluation"], indent=2))

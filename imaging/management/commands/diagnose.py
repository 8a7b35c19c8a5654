"""``python manage.py diagnose evaluate|train`` — a thin wrapper over ``imaging.ml.cli``.

Needs no database: ``requires_system_checks`` is off and nothing touches the ORM.

    python manage.py diagnose evaluate --data PATH.npz --split val --model classical --json
    python manage.py diagnose train --data PATH.npz --model qcnn
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from imaging.ml.cli import CLIError, run


class Command(BaseCommand):
    help = "Evaluate (never trains) or train the pneumonia diagnosis models on a MedMNIST .npz file."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ev = sub.add_parser("evaluate", help="evaluate a committed model on <split> of a MedMNIST .npz")
        ev.add_argument("--data", required=True)
        ev.add_argument("--split", default="val")
        ev.add_argument("--model", choices=("classical", "qcnn"), default="classical")
        ev.add_argument("--json", action="store_true")
        tr = sub.add_parser("train", help="train a model and rewrite its committed artifact (seeded)")
        tr.add_argument("--data", required=True)
        tr.add_argument("--model", choices=("classical", "qcnn"), default="classical")
        tr.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        class _Args:
            pass

        a = _Args()
        for key in ("action", "data", "split", "model", "json", "seed"):
            setattr(a, key, options.get(key))
        try:
            run(a, out=self.stdout._out, err=self.stderr._out)
        except CLIError as exc:
            raise CommandError(str(exc)) from exc

"""``python manage.py diagnose evaluate|train`` — a thin wrapper over ``imaging.ml.cli``.

Needs no database: ``requires_system_checks`` is off and nothing touches the ORM.

    python manage.py diagnose evaluate --data PATH.npz --split val --model active --json
    python manage.py diagnose train --data PATH.npz --model qcnn
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from imaging.ml.cli import KINDS, CLIError, run


def _active_kind() -> str:
    """The kind of the registry's active pneumonia model; the code's default when the
    database is unreachable or has none registered yet (evaluate needs no database)."""
    from imaging.model_registry import DEFAULT_KIND, TASK

    try:
        from imaging.models import DiagnosisModel

        row = DiagnosisModel.objects.filter(task=TASK, is_active=True).values_list("kind", flat=True).first()
    except Exception:  # noqa: BLE001 - no database: fall back to the default, said in the output
        row = None
    return row or DEFAULT_KIND


class Command(BaseCommand):
    help = "Evaluate (never trains) or train the pneumonia diagnosis models on a MedMNIST .npz file."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ev = sub.add_parser("evaluate", help="evaluate a committed model on <split> of a MedMNIST .npz")
        ev.add_argument("--data", required=True)
        ev.add_argument("--split", default="val")
        ev.add_argument(
            "--model",
            choices=(*KINDS, "active"),
            default="active",
            help="a model kind, or 'active': the registry's active model (the default kind without a database)",
        )
        ev.add_argument("--json", action="store_true")
        pr = sub.add_parser(
            "predict", help="gate + active model on one DICOM/PNG/JPEG file, as the pipeline does"
        )
        pr.add_argument("file")
        pr.add_argument("--json", action="store_true")
        tr = sub.add_parser("train", help="train a model and rewrite its committed artifact (seeded)")
        tr.add_argument("--data", required=True)
        tr.add_argument("--model", choices=KINDS, default="classical")
        tr.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        if options.get("action") == "predict":
            return self._predict(options)

        class _Args:
            pass

        a = _Args()
        for key in ("action", "data", "split", "model", "json", "seed"):
            setattr(a, key, options.get(key))
        if a.action == "evaluate" and a.model == "active":
            a.model = _active_kind()
        try:
            run(a, out=self.stdout._out, err=self.stderr._out)
        except CLIError as exc:
            raise CommandError(str(exc)) from exc

    def _predict(self, options):
        """``predict FILE [--json]``: the upload's checks and decode (``imaging.validation``,
        ``imaging.decode``), the pipeline's preprocess, the applicability gate and the ACTIVE
        registered model (database), exactly as the diagnose stage runs them."""
        import json as _json

        from django.conf import settings

        from imaging import diagnosis, preprocess
        from imaging.ml.applicability import Metadata
        from imaging.validation import UploadRejected, inspect_upload, read_dicom_header

        path = options["file"]
        try:
            with open(path, "rb") as fh:
                data = fh.read(settings.QMC_MAX_UPLOAD_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"{path}: cannot read the file ({exc.strerror or exc}).") from exc
        try:
            insp, decoded = inspect_upload(
                data, max_bytes=settings.QMC_MAX_UPLOAD_BYTES, max_pixels=settings.QMC_MAX_PIXELS
            )
            meta = Metadata.from_dataset(read_dicom_header(data)) if insp.format == "dicom" else Metadata()
        except UploadRejected as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        matrix = preprocess.preprocess(decoded.display)
        try:
            _row, model = diagnosis.active_model()
            pred = diagnosis.predict_with(model, matrix, meta)
        except diagnosis.ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        out = {
            "applicable": pred.applicable,
            "reason": pred.reason,
            "label": pred.label if pred.applicable else None,
            "probability": pred.probability if pred.applicable else None,
            "model_id": pred.model_id,
        }
        if options.get("json"):
            self.stdout.write(_json.dumps(out))
        elif pred.applicable:
            self.stdout.write(
                f"{pred.label} (probability of pneumonia {pred.probability:.3f}; {pred.model_id})"
            )
        else:
            self.stdout.write(f"{pred.reason} ({pred.model_id})")

"""`--model active`: the registry's active model (the default kind without a database)."""

import io
import json

import pytest

from imaging.ml import api
from imaging.ml.cli import KINDS as CLI_KINDS
from imaging.ml.cli import build_parser, run


def test_default_kind_is_one_value_everywhere():
    from imaging import model_registry

    assert model_registry.DEFAULT_KIND == api.DEFAULT_KIND
    assert tuple(CLI_KINDS) == tuple(api.KINDS)
    assert set(model_registry._ALGORITHMS) == set(api.KINDS)


def test_cli_evaluate_active_is_the_default_kind(data_path):
    out = io.StringIO()
    run(
        build_parser().parse_args(["evaluate", "--data", str(data_path), "--model", "active", "--json"]),
        out=out,
    )
    obj = json.loads(out.getvalue())
    assert obj["kind"] == api.DEFAULT_KIND and obj["requested"] == "active"
    assert obj["model_id"] == api.load_model(api.DEFAULT_KIND).model_id and obj["n"] == 524


def _evaluate_active(data_path) -> dict:
    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "diagnose",
        "evaluate",
        "--data",
        str(data_path),
        "--split",
        "val",
        "--model",
        "active",
        "--json",
        stdout=out,
    )
    return json.loads(out.getvalue())


def test_django_evaluate_active_without_database_uses_the_default(data_path):
    obj = _evaluate_active(data_path)
    assert obj["kind"] == api.DEFAULT_KIND
    assert {"auc", "acc", "sensitivity", "specificity", "model_id", "sha256"} <= set(obj)


@pytest.mark.django_db
def test_django_evaluate_active_follows_the_registry(data_path):
    from imaging import model_registry
    from imaging.models import DiagnosisModel
    from tests.factories import AdminFactory

    model_registry.model_register_builtin()
    active = DiagnosisModel.objects.get(is_active=True)
    assert active.kind == api.DEFAULT_KIND
    assert _evaluate_active(data_path)["model_id"] == active.model_id
    cnn = DiagnosisModel.objects.get(kind="cnn")
    model_registry.model_activate(actor=AdminFactory(), model=cnn)
    obj = _evaluate_active(data_path)
    assert obj["kind"] == "cnn" and obj["model_id"] == cnn.model_id and obj["sha256"] == cnn.sha256


@pytest.mark.parametrize("kind", ["classical", "cnn", "ensemble"])
def test_every_kind_evaluates(data_path, kind):
    out = io.StringIO()
    run(build_parser().parse_args(["evaluate", "--data", str(data_path), "--model", kind, "--json"]), out=out)
    obj = json.loads(out.getvalue())
    assert obj["kind"] == kind and 0.9 < obj["auc"] <= 1

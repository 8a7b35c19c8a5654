import io
import json

import numpy as np
import pytest

from imaging.ml.cli import CLIError, build_parser, run

KEYS = {"auc", "acc", "sensitivity", "specificity", "n", "model_id"}


def test_cli_evaluate_prints_one_json_object(data_path):
    out = io.StringIO()
    run(
        build_parser().parse_args(["evaluate", "--data", str(data_path), "--split", "val", "--json"]), out=out
    )
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert KEYS <= set(obj) and obj["n"] == 524


def test_cli_bad_split_and_file(tmp_path, data_path):
    with pytest.raises(CLIError, match="missing key.*test_images"):
        run(
            build_parser().parse_args(["evaluate", "--data", str(data_path), "--split", "test"]),
            out=io.StringIO(),
        )
    bad = tmp_path / "x.npz"
    np.savez(bad, val_images=np.zeros((3, 28, 28), np.uint8), val_labels=np.array([0, 1, 7]))
    with pytest.raises(CLIError, match="not binary"):
        run(build_parser().parse_args(["evaluate", "--data", str(bad)]), out=io.StringIO())


def test_django_command_evaluate_without_database(data_path):
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django settings not configured")
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
        "classical",
        "--json",
        stdout=out,
    )
    obj = json.loads(out.getvalue())
    assert KEYS <= set(obj)
    assert django is not None


def test_django_command_bad_file_is_command_error(tmp_path):
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django settings not configured")
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="file not found"):
        call_command(
            "diagnose", "evaluate", "--data", str(tmp_path / "none.npz"), "--json", stdout=io.StringIO()
        )

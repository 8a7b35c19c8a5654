"""The pipeline's plain-string statuses and kinds are exactly the models' choices."""

from imaging.models import ObjectKind, ScanStatus
from imaging.pipeline import status


def test_the_steps_are_the_scan_statuses_in_order():
    assert [*status.STEPS, status.FAILED] == [s for s in ScanStatus.values if s != "failed"] + ["failed"]
    assert set(status.STEPS) | {status.FAILED} == set(ScanStatus.values)


def test_the_kinds_are_the_object_kinds():
    assert {status.ORIGINAL, *status.DERIVED_KINDS, *status.OPTIONAL_KINDS} == set(ObjectKind.values)

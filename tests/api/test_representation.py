"""The scan API's serializers bind their fields once per class (core.api.representation), and
their `of` functions skip the fields altogether: both outputs must be exactly DRF's own
field-by-field output, for scans in every state."""

from __future__ import annotations

import zoneinfo

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from imaging.models import Scan, ScanStatus
from imaging.serializers import (
    DiagnosisSerializer,
    ScanDetailSerializer,
    ScanObjectSerializer,
    ScanSummarySerializer,
)
from tests.api.conftest import stored_scan
from tests.factories import PatientFactory, make_scan

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def drf(serializer_class, instance) -> dict:
    """DRF's own Serializer.to_representation, with a fresh copy of every field."""
    return serializers.Serializer.to_representation(serializer_class(instance), instance)


@pytest.fixture
def scans():
    patient = PatientFactory()
    done, _ = stored_scan(patient)
    refused, _ = stored_scan(patient)
    Scan.objects.filter(pk=refused.pk).update(
        diagnosis_applicable=False, diagnosis_reason="not applicable: the model is for chest X-rays"
    )
    failed, _, _ = make_scan(patient, modality="MR")
    Scan.objects.filter(pk=failed.pk).update(
        status=ScanStatus.FAILED, failure_reason="could not decode", neqr_layer=True
    )
    Scan.objects.filter(pk=done.pk).update(width=256, height=128)  # a swap of the two would show
    return [Scan.objects.prefetch_related("blobs").get(pk=s.pk) for s in (done, refused, failed)]


def test_bound_once_output_is_drfs_own(scans):
    for scan in scans:
        for serializer_class in (ScanDetailSerializer, ScanSummarySerializer):
            assert serializer_class(scan).data == drf(serializer_class, scan), (serializer_class, scan.status)
        for obj in scan.blobs.all():
            assert ScanObjectSerializer(obj).data == drf(ScanObjectSerializer, obj)
        row = DiagnosisSerializer.of(scan)
        assert DiagnosisSerializer(row).data == drf(DiagnosisSerializer, row)
    assert ScanSummarySerializer(scans, many=True).data == [drf(ScanSummarySerializer, s) for s in scans]


def test_a_scan_of_every_state_is_covered(scans):
    detail = [ScanDetailSerializer(s).data for s in scans]
    assert detail[0]["diagnosis"]["applicable"] is not False and detail[0]["objects"]
    assert detail[1]["diagnosis"]["applicable"] is False and detail[1]["diagnosis"]["label"] is None
    assert detail[2]["diagnosis"] is None and detail[2]["neqr_layer"]["applied"] is True


def rendered(data) -> bytes:
    return JSONRenderer().render(data)


def test_of_is_the_serializers_output_byte_for_byte(scans):
    """The views answer with `of(...)`; a client must see exactly what the declared fields give."""
    for scan in scans:
        assert rendered(ScanDetailSerializer.of(scan)) == rendered(drf(ScanDetailSerializer, scan)), (
            scan.status
        )
        assert rendered(ScanSummarySerializer.of(scan)) == rendered(drf(ScanSummarySerializer, scan)), (
            scan.status
        )
        for obj in scan.blobs.all():
            assert rendered(ScanObjectSerializer.of(obj)) == rendered(drf(ScanObjectSerializer, obj))


def test_of_follows_the_active_time_zone_as_drf_does(scans):
    with timezone.override(zoneinfo.ZoneInfo("Pacific/Auckland")):
        ours = ScanDetailSerializer.of(scans[0])
        theirs = drf(ScanDetailSerializer, scans[0])
    assert ours["created_at"] == theirs["created_at"] and not ours["created_at"].endswith("Z")


def test_of_links_follow_the_script_prefix_as_reverse_does(scans):
    from django.urls import set_script_prefix

    try:
        set_script_prefix("/portal/")
        ours = ScanDetailSerializer.of(scans[0])
        theirs = drf(ScanDetailSerializer, scans[0])
    finally:
        set_script_prefix("/")
    assert ours["url"].startswith("/portal/api/") and ours["url"] == theirs["url"]
    assert ours["preview_url"] == theirs["preview_url"]

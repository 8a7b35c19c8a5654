"""Who may associate: a peer's calling AE title (and host, when set) opens an association and
C-ECHO answers; anyone else is refused at association (A-ASSOCIATE-RJ, calling AE title not
recognised), is logged without patient data, and stores nothing."""

from __future__ import annotations

import pytest

from imaging.models import DicomPeer, PendingInstance, Scan
from tests.imaging.conftest import blob_files
from tests.imaging.dimse.conftest import dicom_file, echoscu, instance, storescu

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_known_peer_echoes(scp, site):
    run = echoscu(scp)
    assert "Association Accepted" in run.output
    assert "Received Echo Response (Status: 0x0000 - Success)" in run.output


def test_an_unknown_calling_ae_title_is_refused_at_association(scp, site, tmp_path):
    run = echoscu(scp, aet="INTRUDER")
    assert run.rejected and "Calling AE title not recognised" in run.output
    assert "Received Echo Response" not in run.output

    blobs = blob_files()
    stored = storescu(scp, dicom_file(tmp_path, instance(seed="intruder")), aet="INTRUDER")
    assert stored.rejected and stored.statuses == []
    assert not Scan.objects.exists() and not PendingInstance.objects.exists() and blob_files() == blobs
    assert "calling AE title 'INTRUDER' from 127.0.0.1 is not a known peer" in scp.log()
    assert scp.alive()


def test_a_deactivated_peer_and_a_peer_from_another_host_are_refused(scp, site):
    DicomPeer.objects.filter(pk=site.peer.pk).update(is_active=False)
    assert echoscu(scp).rejected
    DicomPeer.objects.filter(pk=site.peer.pk).update(is_active=True, host="192.0.2.7")
    assert echoscu(scp).rejected
    DicomPeer.objects.filter(pk=site.peer.pk).update(host="127.0.0.1")
    assert not echoscu(scp).rejected


def test_a_request_for_another_called_ae_title_is_refused(scp, site):
    from tests.imaging.dimse.conftest import _run

    run = _run(["echoscu", "-v", "-aet", "MODALITY1", "-aec", "NOT-QMC", "127.0.0.1", str(scp.port)])
    assert run.rejected and "Called AE title not recognised" in run.output

"""DICOM peers are configured per organisation in the admin: AE title (checked against PS3.5's
AE repertoire), optional host address, active flag. Patient links cannot be typed in (they are
hashes), only deleted; the queue is read-only there."""

from __future__ import annotations

import pytest

from imaging.models import DicomPeer
from tests.factories import AdminFactory, OrganisationFactory, login_verified

pytestmark = pytest.mark.django_db
ADD = "/admin/imaging/dicompeer/add/"


def test_an_administrator_adds_a_peer(client):
    org = OrganisationFactory()
    http = login_verified(client, AdminFactory())
    assert http.get(ADD).status_code == 200
    response = http.post(
        ADD, {"organisation": org.pk, "ae_title": "CT_ROOM_2", "host": "10.1.2.3", "is_active": "on"}
    )
    assert response.status_code == 302
    peer = DicomPeer.objects.get()
    assert (peer.organisation, peer.ae_title, peer.host, peer.is_active) == (
        org,
        "CT_ROOM_2",
        "10.1.2.3",
        True,
    )


@pytest.mark.parametrize("title", ["BAD\\AE", "", "A" * 17, "é-ROOM"])
def test_an_ae_title_outside_the_repertoire_is_refused(client, title):
    http = login_verified(client, AdminFactory())
    response = http.post(
        ADD, {"organisation": OrganisationFactory().pk, "ae_title": title, "is_active": "on"}
    )
    assert response.status_code == 200 and not DicomPeer.objects.exists()


def test_links_and_the_queue_cannot_be_added_by_hand(client):
    http = login_verified(client, AdminFactory())
    assert http.get("/admin/imaging/dicompatientlink/add/").status_code == 403
    assert http.get("/admin/imaging/pendinginstance/add/").status_code == 403
    assert http.get("/admin/imaging/pendinginstance/").status_code == 200

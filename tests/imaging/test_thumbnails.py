"""GET /scans/<id>/thumb.png: the scan lists' and the consent picker's thumbnail, decided by the
policy like the preview (tests/api/test_matrix.py w_thumb covers every actor)."""

import datetime as dt
import io

import pytest
from django.urls import reverse
from PIL import Image

from imaging import consent_port
from portal.consent_services import consent_grant, consent_revoke
from portal.models import AccessEvent
from tests.api.conftest import stored_scan
from tests.factories import ClinicianFactory, PatientFactory, login_verified

pytestmark = pytest.mark.django_db


def test_thumbnail_for_owner_and_consented_reader_only(client):
    alice, ada, eve = PatientFactory(), ClinicianFactory(), ClinicianFactory()
    consent = consent_grant(patient=alice, grantee_user=ada, actions=["view"], purposes=["TREAT"])
    scan, _ = stored_scan(alice, uploader=ada)
    url = reverse("imaging:thumb", args=[scan.id])
    for user in (alice, ada):
        login_verified(client, user)
        r = client.get(url)
        assert r.status_code == 200, r.content[:200]
        assert r["Content-Type"] == "image/png" and "no-store" in r["Cache-Control"]
        img = Image.open(io.BytesIO(r.content))
        assert max(img.size) <= 96
    before = AccessEvent.objects.count()
    login_verified(client, eve)
    assert client.get(url).status_code == 404
    assert AccessEvent.objects.count() == before + 1  # the refusal is recorded
    consent_revoke(actor=alice, consent=consent)
    login_verified(client, ada)
    assert client.get(url).status_code in (403, 404)


def test_scan_list_and_picker_name_scans_by_study(client):
    alice, ada = PatientFactory(), ClinicianFactory()
    consent_grant(patient=alice, grantee_user=ada, actions=["view"], purposes=["TREAT"])
    scan, _ = stored_scan(alice, uploader=ada, modality="MR")
    scan.body_part, scan.study_date = "HEAD", dt.date(2004, 1, 19)
    scan.save(update_fields=["body_part", "study_date"])
    assert consent_port.scan_label(scan) == "MR · Head · study of 19 Jan 2004"
    login_verified(client, alice)
    html = client.get(reverse("imaging:patient-scans", args=[alice.pk])).content.decode()
    thumb = reverse("imaging:thumb", args=[scan.id])
    assert f'src="{thumb}" loading="lazy"' in html and "Study of 19 Jan 2004" in html
    assert 'alt="Thumbnail of the MR scan of 19 Jan 2004"' in html
    picker = client.get(reverse("consents")).content.decode()
    assert "MR · Head · study of 19 Jan 2004" in picker and f'src="{thumb}"' in picker

"""The viewer page (imaging/viewer_views.py, /scans/<id>/viewer/): who may open it, what it
configures the browser viewer with, its Content-Security-Policy, and the identity check a
clinician sees (imaging/viewer_selectors.py) — whose values stay out of logs and the ledger.
The browser side is tests/e2e/test_viewer.py."""

from __future__ import annotations

import io
import logging
import re

import pytest
from django.urls import reverse

from imaging.services import scan_upload
from imaging.viewer_selectors import LazyChunkFile
from ledger.models import Entry, PendingEvent
from portal.consent_services import consent_grant
from portal.models import AccessEvent
from tests.factories import ClinicianFactory, PatientFactory, login_verified
from tests.imaging.conftest import png_bytes
from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom

pytestmark = pytest.mark.django_db

PHI = ("Secret", "Person", "MRN-0042", "19700101")


def _dicom(
    name: str, *, seed: str, study: str | None = None, patient_id="MRN-0042", birth="19700101", frames=3
):
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(make_dicom(seed=seed, study=study, pixels=frame_pixels(frames))))
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, patient_id, birth
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture
def alice():
    return PatientFactory(first_name="Alice", last_name="Archer")


@pytest.fixture
def doc(alice):
    doc = ClinicianFactory()
    consent_grant(patient=alice, grantee_user=doc, actions=["view", "download", "upload"], purposes=["TREAT"])
    return doc


def _upload(alice, doc, data: bytes):
    return scan_upload(uploader=doc, patient=alice, file=data, file_name="x.dcm")


def _page(client, user, scan):
    login_verified(client, user)
    return client.get(reverse("imaging:viewer", kwargs={"scan_id": scan.pk}))


def test_the_page_configures_the_viewer_for_the_scans_study(client, alice, doc):
    scan = _upload(alice, doc, _dicom("Archer^Alice", seed="own"))
    response = _page(client, doc, scan)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-study="{scan.series.study.study_instance_uid}"' in html
    assert f'data-instance="{scan.sop_instance_uid}"' in html
    assert 'data-dicomweb="/dicomweb"' in html
    assert re.search(r'<script type="module" src="/static/viewer/viewer\.js">', html)
    assert "<script>" not in html and " style=" not in html  # no inline script or style
    # the scan page opens it
    scan_page = client.get(reverse("imaging:scan", kwargs={"scan_id": scan.pk})).content.decode()
    assert f'href="{reverse("imaging:viewer", kwargs={"scan_id": scan.pk})}"' in scan_page


def test_the_viewer_pages_policy_adds_blob_images_and_nothing_else(client, alice, doc):
    scan = _upload(alice, doc, _dicom("Archer^Alice", seed="csp"))
    policy = _page(client, doc, scan)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data: blob:"
    assert "unsafe" not in policy and "wasm" not in policy
    other = client.get(reverse("imaging:scan", kwargs={"scan_id": scan.pk}))["Content-Security-Policy"]
    assert "blob:" not in other


def test_a_clinician_sees_the_dicom_identity_next_to_the_portal_patient(client, alice, doc):
    scan = _upload(alice, doc, _dicom("Archer^Alice", seed="match", patient_id="H-7", birth="19800102"))
    html = _page(client, doc, scan).content.decode()
    assert 'id="identity-badge">Matches<' in html
    table = html[html.index('id="identity-table"') :]
    assert "Alice Archer" in table and "H-7" in table and "1980-01-02" in table


def test_a_study_naming_someone_else_is_flagged(client, alice, doc):
    scan = _upload(alice, doc, _dicom("Secret^Person", seed="other"))
    html = _page(client, doc, scan).content.decode()
    assert 'id="identity-badge">MISMATCH<' in html
    assert 'role="alert"' in html
    assert "differs from the portal patient&#x27;s name" in html
    assert "Person Secret" in html


def test_a_study_with_two_identities_is_flagged(client, alice, doc):
    first = _upload(alice, doc, _dicom("Archer^Alice", seed="a1", patient_id="H-1"))
    study = first.series.study.study_instance_uid
    _upload(alice, doc, _dicom("Archer^Alice", seed="a2", study=study, patient_id="H-2"))
    html = _page(client, doc, first).content.decode()
    assert 'id="identity-badge">MISMATCH<' in html
    assert "name 2 different patients" in html


def test_the_identity_values_stay_out_of_logs_and_the_ledger(client, alice, doc, caplog):
    scan = _upload(alice, doc, _dicom("Secret^Person", seed="phi"))
    before = AccessEvent.objects.count()
    with caplog.at_level(logging.DEBUG):
        html = _page(client, doc, scan).content.decode()
    assert "MRN-0042" in html  # shown to the clinician...
    assert AccessEvent.objects.count() > before  # ...and the view recorded...
    recorded = " ".join(e.payload for e in PendingEvent.objects.all()) + " ".join(
        e.payload for e in Entry.objects.all()
    )
    for value in PHI:  # ...but none of it in a log line or a ledger event
        assert value not in caplog.text
        assert value not in recorded


def test_each_instance_read_is_decided_and_recorded(client, alice, doc):
    first = _upload(alice, doc, _dicom("Archer^Alice", seed="r1"))
    study = first.series.study.study_instance_uid
    second = _upload(alice, doc, _dicom("Archer^Alice", seed="r2", study=study))
    _page(client, doc, first)
    views = AccessEvent.objects.filter(actor=doc, action="view", allowed=True)
    assert set(views.values_list("scan_id", flat=True)) == {first.pk, second.pk}
    assert views.filter(scan_id=first.pk).count() == 1  # the page's own decision, not a second one


def test_instances_outside_the_consent_are_not_read_or_revealed(client, alice):
    doc = ClinicianFactory()
    uploader = ClinicianFactory()
    consent_grant(patient=alice, grantee_user=uploader, actions=["view", "upload"], purposes=["TREAT"])
    mine = _upload(alice, uploader, _dicom("Archer^Alice", seed="s1"))
    study = mine.series.study.study_instance_uid
    hidden = _upload(alice, uploader, _dicom("Secret^Person", seed="s2", study=study))
    consent_grant(
        patient=alice,
        grantee_user=doc,
        actions=["view"],
        purposes=["TREAT"],
        scope_kind="listed",
        scope_scan_ids=[mine.pk],
    )
    html = _page(client, doc, mine).content.decode()
    assert 'id="identity-badge">Matches<' in html
    assert "Secret" not in html and "2 different" not in html
    assert not AccessEvent.objects.filter(actor=doc, scan_id=hidden.pk).exists()


def test_an_unreadable_instance_is_counted_not_guessed(client, alice, doc, caplog):
    scan = _upload(alice, doc, _dicom("Secret^Person", seed="broken"))
    original = scan.blobs.get(kind="original")
    original.ciphertext_sha256 = "0" * 64  # the stored ciphertext no longer matches its record
    original.save(update_fields=["ciphertext_sha256"])
    with caplog.at_level(logging.WARNING):
        html = _page(client, doc, scan).content.decode()
    assert 'id="identity-badge">Not fully checked<' in html
    assert "1 instance could not be read" in html
    assert f"header of scan {scan.pk} not read (BlobCorrupted)" in caplog.text


def test_the_patients_own_view_has_no_identity_panel(client, alice, doc):
    scan = _upload(alice, doc, _dicom("Archer^Alice", seed="self"))
    client.force_login(alice)
    response = client.get(reverse("imaging:viewer", kwargs={"scan_id": scan.pk}))
    assert response.status_code == 200
    assert 'id="identity"' not in response.content.decode()


def test_a_portal_made_study_has_no_dicom_identity_to_check(client, alice, doc):
    scan = scan_upload(uploader=doc, patient=alice, file=png_bytes(64, 64), file_name="x.png")
    html = _page(client, doc, scan).content.decode()
    assert 'id="identity-badge">Made by the portal<' in html


def test_without_consent_the_page_is_not_found(client, alice, doc):
    scan = _upload(alice, doc, _dicom("Archer^Alice", seed="nc"))
    assert _page(client, ClinicianFactory(), scan).status_code == 404


def test_a_scan_outside_the_hierarchy_is_not_found(client, alice, doc):
    scan = _upload(alice, doc, _dicom("Archer^Alice", seed="nh"))
    scan.series = None
    scan.save(update_fields=["series"])
    response = _page(client, doc, scan)
    assert response.status_code == 404


def test_the_header_is_read_without_decrypting_the_pixel_data():
    """LazyChunkFile hands pydicom only the chunks it reads: a header stops before the pixels."""
    import pydicom

    data = _dicom("Archer^Alice", seed="lazy", frames=40)  # 40 frames of 32 x 24 x 2 bytes
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    pulled = []

    def source():
        for chunk in chunks:
            pulled.append(chunk)
            yield chunk

    with LazyChunkFile(source()) as fp:
        ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=["PatientName", "PatientID"])
    assert str(ds.PatientName) == "Archer^Alice"
    assert len(chunks) > 10 and len(pulled) <= 2

"""The authorization matrix over the real HTTP endpoints, extended to third-party API clients.

Rows are actors; columns are operations on Alice's data through a URL (API and web pages).
A cell is what the actor gets:

    a status code (200, 201, 202, 302, 401, 403, 404)
    in / out   a list answered 200 and Alice (or her scan / her consent) is / is not in it
    login      a redirect to the login page (bearer tokens do not open web pages)

API clients get tokens from /o/token/ with client credentials. `client_wrong_purpose` is the
consenting client declaring X-Purpose-Of-Use: HRESCH on a TREAT consent; `client_no_scope` is
the consenting client with a token scoped to ledger:read only. State-changing columns
(revocations) are run last. test_every_patient_data_url_is_in_the_matrix fails when a URL
pattern that touches patient data is neither a column here nor listed as not touching it.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from portal.access import authorize
from portal.consent_services import breakglass_open, consent_grant, consent_revoke
from portal.models import AccessEvent
from tests.api.conftest import ALL_READ_SCOPES, fetch_token, png, register_client, stored_scan
from tests.factories import (
    AuditorFactory,
    ClinicianFactory,
    PatientFactory,
    login_verified,
)
from tests.url_walk import served

MATRIX = """
actor                scans scans_all upload detail status diagnosis original preview patients history consents consent_get consent_fhir grant w_consents w_history w_my_patients w_bg_start w_bg  w_bg_queue w_bg_signoff w_index w_upload w_patient_scans w_scan w_status w_neqr w_retry lab_run lab_status lab_figure lab_api_run lab_api_figure lab_api_runs receipts receipt revoke w_revoke w_bg_review w_thumb
patient              200   in        202    200    200    200       200      200     in       200     in       200         200          201   200        200       403           403        403   403        403          302     200      200             200    200      200    302     403     403        403        403         403            403          in       200     200    302 403         200
other_patient        404   out       403    404    404    404       404      404     out      200     out      404         404          201   200        200       403           403        403   403        403          302     200      404             404    404      404    404     403     403        403        403         403            403          out      404     404    404 403         404
clinician_consent    200   in        202    200    200    200       200      200     in       403     out      404         404          403   403        403       200           200        200   403        403          200     200      200             200    200      200    302     200     200        200        200         200            in           403      200     404    403 403         200
clinician_none       404   out       403    404    404    404       404      404     out      403     out      404         404          403   403        403       200           200        404   403        403          200     200      404             404    404      404    404     404     404        404        404         404            out          403      404     404    403 403         404
auditor              404   out       403    404    404    404       404      404     out      403     out      404         404          403   403        403       403           403        403   200        302          200     200      404             404    404      404    404     404     404        404        404         404            out          403      404     404    403 200         404
anonymous            401   401       401    401    401    401       401      401     401      401     401      401         401          401   login      login     login         login      login login      login        login   login    login           login  login    login  login   login   login      login      401         401            401          401      401     401    login login       login
client_consent       200   in        403    200    200    200       200      200     in       403     in       200         200          403   login      login     login         login      login login      login        login   login    login           login  login    login  login   login   login      login      403         403            403          403      200     403    login login       login
client_wrong_purpose 403   out       403    403    403    403       403      403     out      403     in       200         200          403   login      login     login         login      login login      login        login   login    login           login  login    login  login   login   login      login      403         403            403          403      404     403    login login       login
client_no_scope      403   403       403    403    403    403       403      403     403      403     403      403         403          403   login      login     login         login      login login      login        login   login    login           login  login    login  login   login   login      login      403         403            403          403      403     403    login login       login
client_none          404   out       403    404    404    404       404      404     out      403     out      404         404          403   login      login     login         login      login login      login        login   login    login           login  login    login  login   login   login      login      403         403            403          403      404     403    login login       login
client_revoked       403   out       403    403    403    403       403      403     out      403     out      404         404          403   login      login     login         login      login login      login        login   login    login           login  login    login  login   login   login      login      403         403            403          403      404     403    login login       login
"""

# DICOMweb (/dicomweb, imaging/dicomweb): searches answer in/out (is Alice's CT study, series or
# instance among the results), retrievals a status, STOW a status (dw_stow names Alice with
# ?patient=; dw_stow_study stores into her CT's study). A research purpose reads de-identified
# instances under its own pseudonymous UIDs (the columns' UIDs are pseudonymised for it): the
# policy refuses client_wrong_purpose (a TREAT consent) and records it; it stores nothing.
DICOMWEB_MATRIX = """
actor                dw_studies dw_series dw_instances dw_study_series dw_study_instances dw_series_instances dw_study dw_study_meta dw_series_get dw_series_meta dw_instance dw_instance_meta dw_frames dw_rendered dw_frame_rendered dw_thumbnail dw_stow dw_stow_study
patient              in         in        in           in              in                 in                  200      200           200           200            200         200              200       200         200               200          200     200
other_patient        out        out       out          out             out                out                 404      404           404           404            404         404              404       404         404               404          404     200
clinician_consent    in         in        in           in              in                 in                  200      200           200           200            200         200              200       200         200               200          200     200
clinician_none       out        out       out          out             out                out                 404      404           404           404            404         404              404       404         404               404          404     404
auditor              out        out       out          out             out                out                 404      404           404           404            404         404              404       404         404               404          404     404
anonymous            401        401       401          401             401                401                 401      401           401           401            401         401              401       401         401               401          401     401
client_consent       in         in        in           in              in                 in                  200      200           200           200            200         200              200       200         200               200          403     403
client_wrong_purpose out        out       out          out             out                out                 403      403           403           403            403         403              403       403         403               403          403     403
client_no_scope      403        403       403          403             403                403                 403      403           403           403            403         403              403       403         403               403          403     403
client_none          out        out       out          out             out                out                 404      404           404           404            404         404              404       404         404               404          404     404
client_revoked       out        out       out          out             out                out                 403      403           403           403            403         403              403       403         403               403          403     403
"""

# FHIR beside DICOMweb (imaging/fhir_views.py): the ImagingStudy of Alice's DICOM study and the
# DiagnosticReport of her diagnosed scan. A research purpose is refused before any lookup (the
# resources are identified; research reads de-identified DICOM).
FHIR_MATRIX = """
actor                fhir_study fhir_report
patient              200        200
other_patient        404        404
clinician_consent    200        200
clinician_none       404        404
auditor              404        404
anonymous            401        401
client_consent       200        200
client_wrong_purpose 403        403
client_no_scope      403        403
client_none          404        404
client_revoked       403        403
"""

# The viewer page (imaging/viewer_views.py): like the scan page, for the study of Alice's DICOM
# scan (the page reads the study's identity for clinicians; the viewer's DICOMweb calls are above).
VIEWER_MATRIX = """
actor                w_viewer
patient              200
other_patient        404
clinician_consent    200
clinician_none       404
auditor              404
anonymous            login
client_consent       login
client_wrong_purpose login
client_no_scope      login
client_none          login
client_revoked       login
"""

# The saliency overlay of a diagnosed chest X-ray (imaging.views.saliency_overlay): a derived
# image, so the preview's access rule (policy "view", the reader's own key wrap).
SALIENCY_MATRIX = """
actor                w_saliency
patient              200
other_patient        404
clinician_consent    200
clinician_none       404
auditor              404
anonymous            login
client_consent       login
client_wrong_purpose login
client_no_scope      login
client_none          login
client_revoked       login
"""

# The DICOM reconciliation queue (imaging/dimse/views.py): a clinician of the receiving
# organisation sees the instances its peers sent for no known patient and attaches one to a
# patient they may upload for (Alice; the instance waits in the queue of the consenting doctor's
# organisation). Another organisation's clinician has an empty queue and no such instance.
DIMSE_MATRIX = """
actor                w_reconcile w_reconcile_attach
patient              403         403
other_patient        403         403
clinician_consent    200         302
clinician_none       200         404
auditor              403         403
anonymous            login       login
client_consent       login       login
client_wrong_purpose login       login
client_no_scope      login       login
client_none          login       login
client_revoked       login       login
"""

# The node API (/federation/v1/, federation/node_api.py) answers only requests signed by a peer
# node's key: no session or bearer token opens it (its node callers: NODE_MATRIX below).
NODE_API_LOCAL = """
actor                node_shared node_scan node_object node_receipt
patient              401         401       401         401
other_patient        401         401       401         401
clinician_consent    401         401       401         401
clinician_none       401         401       401         401
auditor              401         401       401         401
anonymous            401         401       401         401
client_consent       401         401       401         401
client_wrong_purpose 401         401       401         401
client_no_scope      401         401       401         401
client_none          401         401       401         401
client_revoked       401         401       401         401
"""

# column -> (URL name, method, path kwargs from the world, query/body builder)
OPS = {
    "scans": ("imaging-api:scans", "get", {}, lambda w: {"patient": str(w["alice"].pk)}),
    "scans_all": ("imaging-api:scans", "get", {}, None),
    "upload": ("imaging-api:scans", "post", {}, "upload"),
    "detail": ("imaging-api:scan-detail", "get", {"scan_id": "scan"}, None),
    "status": ("imaging-api:scan-status", "get", {"scan_id": "scan"}, None),
    "diagnosis": ("imaging-api:scan-diagnosis", "get", {"scan_id": "scan"}, None),
    "original": ("imaging-api:scan-original", "get", {"scan_id": "scan"}, None),
    "preview": ("imaging-api:scan-preview", "get", {"scan_id": "scan"}, None),
    "patients": ("imaging-api:patients", "get", {}, None),
    "history": ("api-access-history", "get", {}, None),
    "consents": ("api-consents", "get", {}, None),
    "consent_get": ("api-consent", "get", {"series": "consent"}, None),
    "consent_fhir": ("api-consent-fhir", "get", {"series": "consent"}, None),
    "grant": ("api-consents", "post", {}, "grant"),
    "revoke": ("api-consent-revoke", "post", {"series": "consent"}, None),
    "w_consents": ("consents", "get", {}, None),
    "w_history": ("access-history", "get", {}, None),
    "w_my_patients": ("my-patients", "get", {}, None),
    "w_bg_start": ("breakglass-start", "post", {}, lambda w: {"identifier": w["alice"].username}),
    "w_bg": ("breakglass", "get", {"patient_id": "alice"}, None),
    "w_bg_queue": ("breakglass-queue", "get", {}, None),
    "w_bg_signoff": (
        "breakglass-signoff",
        "post",
        {"pk": "breakglass"},
        lambda w: {"note": "ok", "outcome": "justified"},
    ),
    "w_bg_review": ("breakglass-review", "get", {"pk": "breakglass"}, None),
    "w_thumb": ("imaging:thumb", "get", {"scan_id": "scan"}, None),
    "w_index": ("imaging:index", "get", {}, None),
    "w_upload": ("imaging:upload", "get", {}, None),
    "w_patient_scans": ("imaging:patient-scans", "get", {"patient_id": "alice"}, None),
    "w_scan": ("imaging:scan", "get", {"scan_id": "scan"}, None),
    "w_status": ("imaging:status", "get", {"scan_id": "scan"}, None),
    "w_neqr": ("imaging:neqr-cipher", "get", {"scan_id": "neqr_scan"}, None),
    "w_retry": ("imaging:retry", "post", {"scan_id": "scan"}, None),
    "w_revoke": ("consent-revoke", "post", {"series": "consent"}, None),
    "lab_run": ("lab:run", "get", {"run_id": "lab_run"}, None),
    "lab_status": ("lab:status", "get", {"run_id": "lab_run"}, None),
    "lab_figure": ("lab:figure", "get", {"run_id": "lab_run"}, None),
    "lab_api_run": ("lab-api:run-detail", "get", {"run_id": "lab_run"}, None),
    "lab_api_figure": ("lab-api:run-figure", "get", {"run_id": "lab_run"}, None),
    "lab_api_runs": ("lab-api:runs", "get", {}, None),
    "receipts": ("api-receipts", "get", {}, None),
    "receipt": ("api-receipt", "get", {"event_id": "scan_entry"}, None),
}
_STUDY = {"study": "dw_study"}
_SERIES = {**_STUDY, "series": "dw_series"}
_INSTANCE = {**_SERIES, "instance": "dw_sop"}
OPS.update(
    {
        "dw_studies": ("dicomweb:studies", "get", {}, None),
        "dw_series": ("dicomweb:series", "get", {}, None),
        "dw_instances": ("dicomweb:instances", "get", {}, None),
        "dw_study_series": ("dicomweb:study-series", "get", _STUDY, None),
        "dw_study_instances": ("dicomweb:study-instances", "get", _STUDY, None),
        "dw_series_instances": ("dicomweb:series-instances", "get", _SERIES, None),
        "dw_study": ("dicomweb:study", "get", _STUDY, None),
        "dw_study_meta": ("dicomweb:study-metadata", "get", _STUDY, None),
        "dw_series_get": ("dicomweb:series-retrieve", "get", _SERIES, None),
        "dw_series_meta": ("dicomweb:series-metadata", "get", _SERIES, None),
        "dw_instance": ("dicomweb:instance", "get", _INSTANCE, None),
        "dw_instance_meta": ("dicomweb:instance-metadata", "get", _INSTANCE, None),
        "dw_frames": ("dicomweb:frames", "get", {**_INSTANCE, "frames": "dw_frame"}, None),
        "dw_rendered": ("dicomweb:instance-rendered", "get", _INSTANCE, None),
        "dw_frame_rendered": ("dicomweb:frames-rendered", "get", {**_INSTANCE, "frames": "dw_frame"}, None),
        "dw_thumbnail": ("dicomweb:instance-thumbnail", "get", _INSTANCE, None),
        "dw_stow": ("dicomweb:studies", "post", {}, "stow"),
        "dw_stow_study": ("dicomweb:study", "post", _STUDY, "stow_study"),
    }
)
OPS.update(
    {
        "node_shared": ("node-api-shared", "get", {}, None),
        "node_scan": ("node-api-scan", "get", {"scan_id": "scan"}, None),
        "node_object": ("node-api-object", "get", {"object_id": "scan_original"}, None),
        "node_receipt": ("node-api-receipt", "get", {"event_id": "scan_entry"}, None),
    }
)
OPS["fhir_study"] = ("imaging-api:fhir-imaging-study", "get", {"study_id": "fhir_study"}, None)
OPS["fhir_report"] = ("imaging-api:fhir-diagnostic-report", "get", {"scan_id": "scan"}, None)
OPS["w_viewer"] = ("imaging:viewer", "get", {"scan_id": "dw_scan"}, None)
# the receipt of one access in the patient's history (portal/views_history.py): an HTML page
# and its JSON download, for the patient alone (the policy's view_history); everyone else 404
OPS["w_receipt"] = ("access-receipt", "get", {"pk": "access"}, None)
OPS["w_receipt_json"] = ("access-receipt-json", "get", {"pk": "access"}, None)
RECEIPT_PAGE_MATRIX = """
actor                w_receipt w_receipt_json
patient              200       200
other_patient        404       404
clinician_consent    404       404
clinician_none       404       404
auditor              404       404
anonymous            login     login
client_consent       login     login
client_wrong_purpose login     login
client_no_scope      login     login
client_none          login     login
client_revoked       login     login
"""
OPS["w_saliency"] = ("imaging:saliency", "get", {"scan_id": "saliency_scan"}, None)
OPS["w_reconcile"] = ("imaging:reconcile", "get", {}, None)
OPS["w_reconcile_attach"] = (
    "imaging:reconcile-attach",
    "post",
    {"pending_id": "pending"},
    lambda w: {"patient": str(w["alice"].pk), "confirm": "yes"},
)
# DICOMweb searches: (tag, world key) of the UID whose presence in the results is the answer
DICOM_LIST_MEMBER = {
    "dw_studies": ("0020000D", "dw_study"),
    "dw_series": ("0020000E", "dw_series"),
    "dw_instances": ("00080018", "dw_sop"),
    "dw_study_series": ("0020000E", "dw_series"),
    "dw_study_instances": ("00080018", "dw_sop"),
    "dw_series_instances": ("00080018", "dw_sop"),
}
# a list column answers in/out: is this object of Alice's in the results?
LIST_MEMBER = {
    "scans_all": lambda w: str(w["scan"].id),
    "patients": lambda w: str(w["alice"].pk),
    "consents": lambda w: str(w["consent"].series),
    "lab_api_runs": lambda w: str(w["lab_run"].id),
    "receipts": lambda w: str(w["scan_entry"]),
}
# API columns whose every call, once past authentication and scopes, is decided by the policy
# and recorded (access history + ledger); a lab run's artefacts only once past the lab's own
# checks (a lab role, the run's creator): others are refused before the run's scan is named
RECORDED = {"scans", "upload", "detail", "diagnosis", "original", "preview"} | {
    "lab_run",
    "lab_status",
    "lab_figure",
    "lab_api_run",
    "lab_api_figure",
}
# every DICOMweb retrieval and store decides (and records) each instance or the upload; a
# search records one `list` per patient it looks at, so only when the caller has candidates
RECORDED |= {op for op in OPS if op.startswith("dw_")} - set(DICOM_LIST_MEMBER)
RECORDED |= {"fhir_study", "fhir_report"}
# refused for a research purpose before anything is looked up (nothing to record)
RESEARCH_REFUSED = {"dw_stow", "dw_stow_study", "fhir_study", "fhir_report"}

# URL patterns under the patient-data prefixes that do not touch patient data
NOT_PATIENT_DATA = {
    "imaging:models",  # diagnosis model registry (administrators)
    "imaging:model-activate",
    "imaging:model-card",
}
PATIENT_DATA_PREFIXES = (
    "scans/",
    "api/v1/scans",
    "api/v1/patients",
    "api/v1/access-history",
    "api/v1/consents",
    "consents/",
    "access-history/",
    "patients/",
    "breakglass/",
    "audit/breakglass/",
    "lab/runs/",
    "api/v1/lab/runs",
    "api/v1/receipts",
    "dicomweb/",
    "federation/v1/",
    "api/v1/fhir/",
    "erasure/",
    "staff/erasures/",
)


def parse(table: str) -> dict[str, dict[str, str]]:
    lines = [line.split() for line in table.strip().splitlines()]
    header = lines[0][1:]
    return {row[0]: dict(zip(header, row[1:], strict=True)) for row in lines[1:]}


def _before_revocations(base: dict, extra: dict) -> dict:
    """The columns of `extra` put before the revocations, which are run last."""
    out = {}
    for actor, row in base.items():
        names = list(row)
        cut = names.index("revoke")
        out[actor] = {**{k: row[k] for k in names[:cut]}, **extra[actor], **{k: row[k] for k in names[cut:]}}
    return out


def _side_by_side(*tables: dict) -> dict:
    return {actor: {k: v for table in tables for k, v in table[actor].items()} for actor in tables[0]}


EXPECTED = _before_revocations(
    parse(MATRIX),
    _side_by_side(
        parse(DICOMWEB_MATRIX),
        parse(FHIR_MATRIX),
        parse(NODE_API_LOCAL),
        parse(VIEWER_MATRIX),
        parse(SALIENCY_MATRIX),
        parse(DIMSE_MATRIX),
        parse(RECEIPT_PAGE_MATRIX),
    ),
)


def _neqr_scan(patient, *, uploader):
    """A finished scan uploaded with the simulated NEQR layer: its preview is stored layered."""
    import hashlib

    from crypto import envelope
    from imaging import blobs, neqr_layer
    from imaging.models import ScanObject
    from portal.keys import unwrap_for

    scan, plain = stored_scan(patient, uploader=uploader)
    scan.neqr_layer = True
    scan.save(update_fields=["neqr_layer"])
    obj = ScanObject.objects.get(scan=scan, kind="preview")
    key = unwrap_for(object_id=obj.id, reader=None)
    layered = neqr_layer.apply("preview", plain["preview"], key, object_id=str(obj.id))
    ciphertext = envelope.encrypt(layered, key, object_id=str(obj.id), kind="preview", version=1)
    obj.cid = blobs.store().put(ciphertext)
    obj.ciphertext_sha256 = hashlib.sha256(ciphertext).hexdigest()
    obj.save(update_fields=["cid", "ciphertext_sha256"])
    return scan


def _saliency_scan(patient, *, uploader):
    """A diagnosed chest X-ray with its saliency map stored encrypted, its data key wrapped for
    the system, the patient and the current readers, as the pipeline leaves it."""
    import hashlib

    import numpy as np

    from crypto import envelope
    from imaging import blobs
    from imaging.ml import saliency
    from imaging.models import ScanObject
    from portal import keys
    from portal.consent_selectors import readers_for_scan

    scan, _ = stored_scan(patient, uploader=uploader, modality="DX")
    scan.diagnosis_applicable = True
    scan.save(update_fields=["diagnosis_applicable"])
    heat = np.linspace(0, 1, 128 * 128, dtype=np.float32).reshape(128, 128)
    data = saliency.heat_png(heat)
    obj = ScanObject(
        scan=scan, kind="saliency", version=1, plaintext_size=len(data), backend=blobs.store().name
    )
    key = envelope.new_data_key()
    ciphertext = envelope.encrypt(data, key, object_id=str(obj.id), kind="saliency", version=1)
    obj.cid = blobs.store().put(ciphertext)
    obj.ciphertext_sha256 = hashlib.sha256(ciphertext).hexdigest()
    obj.save()
    for reader in [None, patient, *readers_for_scan(scan)]:
        keys.wrap_for(object_id=obj.id, patient=patient, data_key=key, reader=reader)
    return scan


def _pending_instance(organisation):
    """A DICOM instance one of `organisation`'s peers sent for a Patient ID linked to no one:
    waiting in its reconciliation queue (imaging.dimse)."""
    from imaging.dimse.services import instance_receive
    from imaging.models import DicomPeer, PendingInstance
    from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom

    peer = DicomPeer.objects.create(organisation=organisation, ae_title="MATRIX-PEER")
    received = instance_receive(peer=peer, data=make_dicom(seed="matrix-pending", pixels=frame_pixels(1)))
    return PendingInstance.objects.get(pk=received.pending_id)


def _dicom_scan(patient, *, uploader):
    """A DICOM (pydicom's CT_small) uploaded through the real upload path: filed in a study and
    series, its original stored and its key wrapped for the readers of the moment."""
    from imaging.services import scan_upload
    from tests.imaging.conftest import dicom_bytes

    return scan_upload(
        uploader=uploader, patient=patient, file=dicom_bytes("CT_small.dcm"), file_name="ct.dcm"
    )


def _stow(http, url: str, w, headers: dict, *, into_study: bool):
    """STOW-RS of one new instance (a fresh SOP Instance UID every call)."""
    import uuid

    from imaging.dicom import multipart
    from tests.imaging.dicomweb.conftest import frame_pixels, make_dicom

    seed = uuid.uuid4().hex
    if into_study:
        data = make_dicom(seed=seed, study=w["dw_study"], series=w["dw_series"], pixels=frame_pixels(1))
    else:
        data = make_dicom(seed=seed, pixels=frame_pixels(1))
        url += f"?patient={w['alice'].pk}"
    body = multipart.encode([("application/dicom", data)], "matrix-boundary")
    content_type = 'multipart/related; type="application/dicom"; boundary=matrix-boundary'
    return http.post(url, body, content_type=content_type, **headers)


def _checkpointed_scan_entry(scan):
    """The id of the scan's `scan.registered` ledger entry, appended and covered by a checkpoint
    (its receipt carries the openings of the entry's commitments)."""
    from core.keyvault import pseudonym
    from ledger.services import append_all, create_checkpoint, record_event

    event_id = record_event(
        event_type="scan.registered",
        payload={"scan_id": scan.id, "patient": pseudonym("patient", scan.patient_id)},
    )
    append_all()
    create_checkpoint(force=True)
    return event_id


def _lab_run(patient, clinician):
    """A finished quantum-lab run on the patient's scan, made by a clinician with a research
    consent (its figure is a stand-in: what is tested is who may read it)."""
    from django.utils import timezone

    from lab.models import LabRun, RunStatus
    from tests.lab.helpers import make_matrix_scan

    consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["HRESCH"])
    scan, _ = make_matrix_scan(patient, clinician)
    run = LabRun.objects.create(
        tool="neqr",
        params={"source": "scan", "scan_id": str(scan.id), "seed": 4},
        status=RunStatus.DONE,
        progress=100,
        result={"simulated": True},
        created_by=clinician,
        finished_at=timezone.now(),
    )
    run.figure_png = run.seal_figure(png())
    run.save(update_fields=["figure_png"])
    return run


@pytest.fixture
def world(db, client):
    alice = PatientFactory(username="alice-m")
    doc = ClinicianFactory()
    consent_grant(patient=alice, grantee_user=doc, actions=["view", "download", "upload"], purposes=["TREAT"])
    clients = {key: register_client(f"Client {key}") for key in ("a", "b", "c")}
    consent = consent_grant(
        patient=alice, grantee_user=clients["a"][2], actions=["view", "download"], purposes=["TREAT"]
    )
    revoked = consent_grant(
        patient=alice, grantee_user=clients["c"][2], actions=["view", "download"], purposes=["TREAT"]
    )
    consent_revoke(actor=alice, consent=revoked)
    scan, _ = stored_scan(alice, uploader=doc)
    neqr_scan = _neqr_scan(alice, uploader=doc)
    saliency_scan = _saliency_scan(alice, uploader=doc)
    lab_run = _lab_run(alice, doc)
    authorize(actor=doc, action="view", scan=scan)  # an access in Alice's history, with a receipt
    access = AccessEvent.objects.filter(patient=alice, actor=doc).first()
    scan_entry = _checkpointed_scan_entry(scan)
    dicom_scan = _dicom_scan(alice, uploader=doc)
    pending = _pending_instance(doc.organisation)
    emergency_doc = ClinicianFactory()
    bg = breakglass_open(clinician=emergency_doc, patient=alice, reason="unconscious in the ED")
    return {
        "alice": alice,
        "doc": doc,
        "clients": clients,
        "consent": consent,
        "scan": scan,
        "neqr_scan": neqr_scan,
        "saliency_scan": saliency_scan,
        "breakglass": bg,
        "lab_run": lab_run,
        "scan_entry": scan_entry,
        "access": access,
        "scan_original": scan.blobs.get(kind="original"),
        "client": client,
        "dw_study": dicom_scan.series.study.study_instance_uid,
        "dw_series": dicom_scan.series.series_instance_uid,
        "dw_sop": dicom_scan.sop_instance_uid,
        "dw_scan": dicom_scan.pk,
        "dw_frame": "1",
        "fhir_study": str(dicom_scan.series.study_id),
        "pending": pending,
    }


def _as(actor: str, w) -> dict:
    """Log the test client in as `actor`; return the extra headers for its requests."""
    http = w["client"]
    tokens = {
        "client_consent": ("a", ALL_READ_SCOPES, {}),
        "client_wrong_purpose": ("a", ALL_READ_SCOPES, {"HTTP_X_PURPOSE_OF_USE": "HRESCH"}),
        "client_no_scope": ("a", "ledger:read", {}),
        "client_none": ("b", ALL_READ_SCOPES, {}),
        "client_revoked": ("c", ALL_READ_SCOPES, {}),
    }
    if actor in tokens:
        key, scope, extra = tokens[actor]
        client_id, secret, user = w["clients"][key]
        w["research_user"] = user if extra else None
        return {"HTTP_AUTHORIZATION": f"Bearer {fetch_token(http, client_id, secret, scope)}", **extra}
    if actor == "patient":
        http.force_login(w["alice"])
    elif actor == "other_patient":
        http.force_login(PatientFactory())
    elif actor == "clinician_consent":
        login_verified(http, w["doc"])
    elif actor == "clinician_none":
        login_verified(http, ClinicianFactory())
    elif actor == "auditor":
        login_verified(http, AuditorFactory())
    return {}


def _pseudonymous(w, key: str) -> str:
    """A DICOMweb UID as a research caller names it: its own pseudonym (imaging.research)."""
    from imaging.research import pseudonym_uid, recipient_key

    return pseudonym_uid(recipient_key(w["research_user"]), w[key])


def _call(op: str, w, headers: dict):
    name, method, kwargs, body = OPS[op]
    research = headers.get("HTTP_X_PURPOSE_OF_USE") == "HRESCH" and name.startswith("dicomweb:")
    url = reverse(
        name,
        kwargs={
            k: _pseudonymous(w, v)
            if research and v in ("dw_study", "dw_series", "dw_sop")
            else getattr(w[v], "series", None) or getattr(w[v], "pk", w[v])
            for k, v in kwargs.items()
        },
    )
    http = w["client"]
    if body == "upload":
        data = {"patient": str(w["alice"].pk), "file": SimpleUploadedFile("x.png", png(), "image/png")}
        return http.post(url, data, **headers)
    if body in ("stow", "stow_study"):
        return _stow(http, url, w, headers, into_study=body == "stow_study")
    if body == "grant":
        grantee = str(w["clients"]["b"][2].pk)
        data = {"grantee_user": grantee, "actions": ["view"], "purposes": ["TREAT"]}
        return http.post(url, data, content_type="application/json", **headers)
    params = body(w) if callable(body) else {}
    return getattr(http, method)(url, params, **headers)


def _outcome(op: str, response, w) -> str:
    if response.status_code == 302 and response["Location"].startswith(reverse("login")):
        return "login"
    if op in DICOM_LIST_MEMBER and response.status_code == 200:
        tag, key = DICOM_LIST_MEMBER[op]
        found = {item[tag]["Value"][0] for item in response.json() if tag in item}
        return "in" if w[key] in found else "out"
    if op in LIST_MEMBER and response.status_code == 200:
        ids = {str(row.get("id") or row.get("event_id")) for row in response.json()["results"]}
        return "in" if LIST_MEMBER[op](w) in ids else "out"
    return str(response.status_code)


@pytest.mark.parametrize("actor", list(EXPECTED))
def test_matrix(actor, world):
    headers = _as(actor, world)
    got, unrecorded = {}, []
    for op in EXPECTED[actor]:
        before = AccessEvent.objects.count()
        response = _call(op, world, headers)
        got[op] = _outcome(op, response, world)
        lab_outsider = op.startswith("lab_") and actor != "clinician_consent"
        research_refused = op in RESEARCH_REFUSED and actor == "client_wrong_purpose"
        if (
            op in RECORDED
            and got[op] not in ("401", "login")
            and actor != "client_no_scope"
            and not lab_outsider
            and not research_refused
        ):
            if AccessEvent.objects.count() == before:
                unrecorded.append(op)
    wrong = {
        op: f"expected {EXPECTED[actor][op]}, got {got[op]}" for op in got if got[op] != EXPECTED[actor][op]
    }
    assert not wrong, f"{actor}: {wrong}"
    assert not unrecorded, f"{actor}: not recorded by the policy: {unrecorded}"


def test_every_patient_data_url_is_in_the_matrix():
    covered = {name for name, *_ in [*OPS.values(), *ERASURE_OPS.values()]}
    missing = sorted(
        f"/{route} ({name})"
        for route, name, _ in served()
        if route.startswith(PATIENT_DATA_PREFIXES) and name not in covered | NOT_PATIENT_DATA
    )
    assert not missing, (
        "URL patterns touching patient data are missing from the authorization matrix "
        f"(tests/api/test_matrix.py): {missing}"
    )


def test_matrix_table_is_complete():
    assert all(set(row) == set(OPS) for row in EXPECTED.values())


# --- the hospital network's pages (federation/views.py) ------------------------------------------
# No patient data: who runs the network (auditors read it, administrators also add peers).
# Each POST is sent with a valid body; `net_add_post` is the add-peer form's first step.

NETWORK_MATRIX = """
actor         net  net_peer net_quantum net_evidence net_evidence_json net_add net_add_post
patient       403  403      403         403          403               403     403
clinician     403  403      403         403          403               403     403
auditor       200  200      302         200          200               403     403
admin         200  200      302         200          200               200     200
client        login login   login       login        login             login   login
anonymous     login login   login       login        login             login   login
"""

NETWORK_OPS = {
    "net": ("federation:network", "get", {}),
    "net_peer": ("federation:peer", "get", {"peer_id": "peer"}),
    "net_quantum": ("federation:peer-quantum", "post", {"peer_id": "peer"}),
    "net_evidence": ("federation:evidence-list", "get", {}),
    "net_evidence_json": ("federation:evidence-json", "get", {"evidence_id": "evidence"}),
    "net_add": ("federation:peer-add", "get", {}),
    "net_add_post": ("federation:peer-add", "post", {}),
}
NETWORK_EXPECTED = parse(NETWORK_MATRIX)


@pytest.fixture
def network(db, client, settings):
    """Hospital B, trusted, then caught signing two checkpoints of one size (evidence)."""
    from federation.evidence import record_evidence
    from federation.peers import add_peer
    from tests.federation.peer_log import PeerLog

    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    log = PeerLog("hospital-b.example/ledger", leaves=4)
    peer = add_peer(origin=log.origin, vkeys=log.vkeys, role="log")
    evidence = record_evidence(
        peer=peer,
        first_note=log.checkpoint(),
        second_note=log.fork(1).checkpoint(),
        proof=None,
        via="monitor",
    )
    other = PeerLog("hospital-c.example/ledger")
    add_form = {"step": "preview", "origin": other.origin, "vkeys": "\n".join(other.vkeys), "role": "log"}
    return {"peer": peer, "evidence": evidence, "client": client, "add_form": add_form}


@pytest.mark.parametrize("actor", list(NETWORK_EXPECTED))
def test_network_matrix(actor, network):
    from tests.factories import AdminFactory

    http, headers = network["client"], {}
    users = {"patient": PatientFactory, "clinician": ClinicianFactory, "auditor": AuditorFactory}
    if actor in users:
        login_verified(http, users[actor]())
    elif actor == "admin":
        login_verified(http, AdminFactory())
    elif actor == "client":
        client_id, secret, _ = register_client("Network client")
        headers = {"HTTP_AUTHORIZATION": f"Bearer {fetch_token(http, client_id, secret, ALL_READ_SCOPES)}"}
    got = {}
    for op, (name, method, kwargs) in NETWORK_OPS.items():
        url = reverse(name, kwargs={k: network[v].pk for k, v in kwargs.items()})
        data = network["add_form"] if op == "net_add_post" else {}
        response = getattr(http, method)(url, data, **headers)
        got[op] = _outcome(op, response, network)
    wrong = {
        op: f"expected {NETWORK_EXPECTED[actor][op]}, got {got[op]}"
        for op in got
        if got[op] != NETWORK_EXPECTED[actor][op]
    }
    assert not wrong, f"{actor}: {wrong}"


def test_network_matrix_table_is_complete():
    assert all(set(row) == set(NETWORK_OPS) for row in NETWORK_EXPECTED.values())


# --- erasure (portal/views_erasure.py): a patient asks, an administrator decides ---------------
# Alice has a pending request. `er_reject` refuses it with a reason, `er_approve` (typed
# confirmation) would crypto-shred her scans; `er_cancel` withdraws it. Only Alice sees or
# withdraws her request; only an administrator reads the queue or decides (after a refusal the
# request is decided, so the administrator's approval answers 409).

ERASURE_MATRIX = """
actor         er_page er_queue er_reject er_approve er_cancel
patient       200     403      403       403        302
other_patient 200     403      403       403        404
clinician     403     403      403       403        404
auditor       403     403      403       403        404
admin         403     200      302       409        404
client        login   login    login     login      login
anonymous     login   login    login     login      login
"""

ERASURE_OPS = {
    "er_page": ("erasure", "get", {}, {}),
    "er_queue": ("erasure-queue", "get", {}, {}),
    "er_reject": (
        "erasure-decide",
        "post",
        {"pk": "request"},
        {"decision": "reject", "note": "retention period"},
    ),
    "er_approve": ("erasure-decide", "post", {"pk": "request"}, {"decision": "approve", "confirm": "ERASE"}),
    "er_cancel": ("erasure-cancel", "post", {"pk": "request"}, {}),
}
ERASURE_EXPECTED = parse(ERASURE_MATRIX)


@pytest.mark.parametrize("actor", list(ERASURE_EXPECTED))
def test_erasure_matrix(actor, db, client):
    from imaging.erasure import erasure_request
    from portal.models import ErasureRequest, ErasureStatus
    from tests.factories import AdminFactory

    alice = PatientFactory()
    world = {"request": erasure_request(patient=alice)}
    headers: dict = {}
    users = {"other_patient": PatientFactory, "clinician": ClinicianFactory, "auditor": AuditorFactory}
    if actor == "patient":
        client.force_login(alice)
    elif actor in users:
        login_verified(client, users[actor]())
    elif actor == "admin":
        login_verified(client, AdminFactory())
    elif actor == "client":
        client_id, secret, _ = register_client("Erasure client")
        headers = {"HTTP_AUTHORIZATION": f"Bearer {fetch_token(client, client_id, secret, ALL_READ_SCOPES)}"}
    got = {}
    for op, (name, method, kwargs, data) in ERASURE_OPS.items():
        url = reverse(name, kwargs={k: world[v].pk for k, v in kwargs.items()})
        got[op] = _outcome(op, getattr(client, method)(url, data, **headers), world)
    wrong = {
        op: f"expected {ERASURE_EXPECTED[actor][op]}, got {got[op]}"
        for op in got
        if got[op] != ERASURE_EXPECTED[actor][op]
    }
    assert not wrong, f"{actor}: {wrong}"
    status = ErasureRequest.objects.get(pk=world["request"].pk).status
    decided = {"admin": ErasureStatus.REJECTED, "patient": ErasureStatus.CANCELLED}
    assert status == decided.get(actor, ErasureStatus.PENDING), f"{actor} changed the request to {status}"


def test_erasure_matrix_table_is_complete():
    assert all(set(row) == set(ERASURE_OPS) for row in ERASURE_EXPECTED.values())


# --- the node API (federation/node_api.py): node B's clinicians asking node A ------------------
# Requests signed by B's node key for one of B's clinicians (tests/federation/sharing.py), except
# `unsigned`. Alma granted: `remote_consent` view+download, `remote_view_only` view, `remote_revoked`
# (revoked), `remote_expired` (expired), `remote_removed` (then B's directory dropped them: the
# signature check refuses before the policy is asked); `remote_none` nothing. `node_preview` is
# the scan's preview, `node_other_scan` a scan of a patient who granted nobody, `node_receipt`
# the receipt of one of remote_consent's accesses. A cell is a status, or in/out for the list.

NODE_MATRIX = """
actor            node_shared node_scan node_object node_preview node_receipt node_other_scan
remote_consent   in          200       200         200          200          404
remote_view_only in          200       403         200          404          404
remote_none      out         404       404         404          404          404
remote_revoked   out         403       403         403          404          404
remote_expired   out         403       403         403          404          404
remote_removed   403         403       403         403          403          403
unsigned         401         401       401         401          401          401
"""
NODE_EXPECTED = parse(NODE_MATRIX)
NODE_OPS = {
    "node_shared": ("node-api-shared", {}),
    "node_scan": ("node-api-scan", {"scan_id": "scan"}),
    "node_object": ("node-api-object", {"object_id": "original"}),
    "node_preview": ("node-api-object", {"object_id": "preview"}),
    "node_receipt": ("node-api-receipt", {"event_id": "access_event"}),
    "node_other_scan": ("node-api-scan", {"scan_id": "other_scan"}),
}
# past the signature check, every one of these is decided by the policy and recorded
NODE_RECORDED = {"node_scan", "node_object", "node_preview", "node_other_scan"}


@pytest.fixture
def node_world(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from portal.access import authorize
    from portal.models import Consent
    from tests.federation.sharing import leave_directory, sharing

    names = {
        "remote_view_only": "Vera Vik",
        "remote_revoked": "Rita Ruiz",
        "remote_expired": "Emil Eng",
        "remote_removed": "Gus Gray",
    }
    s = sharing(settings, others=tuple(names.values()))
    alma = s.patient
    scan, _ = stored_scan(alma)
    both = ["view", "download"]
    consent_grant(patient=alma, grantee_user=s.shadow, actions=both, purposes=["TREAT"])
    consent_grant(patient=alma, grantee_user=s.others["Vera Vik"][1], actions=["view"], purposes=["TREAT"])
    revoked = consent_grant(
        patient=alma, grantee_user=s.others["Rita Ruiz"][1], actions=both, purposes=["TREAT"]
    )
    consent_revoke(actor=alma, consent=revoked)
    expired = consent_grant(
        patient=alma, grantee_user=s.others["Emil Eng"][1], actions=both, purposes=["TREAT"]
    )
    Consent.objects.filter(pk=expired.pk).update(
        start=timezone.now() - timedelta(days=10), end=timezone.now() - timedelta(days=1)
    )
    consent_grant(patient=alma, grantee_user=s.others["Gus Gray"][1], actions=both, purposes=["TREAT"])
    leave_directory(settings, s, s.others["Gus Gray"][0])
    other_scan, _ = stored_scan(PatientFactory())
    callers = {"remote_consent": s.bea, "remote_none": s.olav}
    callers |= {actor: s.others[name][0] for actor, name in names.items()}
    return {
        "s": s,
        "callers": callers,
        "scan": scan.pk,
        "original": scan.blobs.get(kind="original").pk,
        "preview": scan.blobs.get(kind="preview").pk,
        "other_scan": other_scan.pk,
        "access_event": authorize(actor=s.shadow, action="view", scan=scan).event_id,
    }


@pytest.mark.parametrize("actor", list(NODE_EXPECTED))
def test_node_matrix(actor, node_world):
    from django.test import Client

    from federation.models import NodeAuthRefusal

    s, http = node_world["s"], Client()
    got, unrecorded = {}, []
    for op, (name, kwargs) in NODE_OPS.items():
        path = reverse(name, kwargs={k: node_world[v] for k, v in kwargs.items()})
        before = (AccessEvent.objects.count(), NodeAuthRefusal.objects.count())
        if actor == "unsigned":
            response = http.get(path)
        else:
            response = s.get(http, path, clinician=node_world["callers"][actor])
        if op == "node_shared" and response.status_code == 200:
            ids = {row["patient"]["id"] for row in response.json()["patients"]}
            got[op] = "in" if str(s.patient.pk) in ids else "out"
        else:
            got[op] = str(response.status_code)
        # a refusal of the signature check is a NodeAuthRefusal; past it, the policy records
        if got[op] in ("401", "403") and actor in ("unsigned", "remote_removed"):
            if NodeAuthRefusal.objects.count() == before[1]:
                unrecorded.append(op)
        elif op in NODE_RECORDED and AccessEvent.objects.count() == before[0]:
            unrecorded.append(op)
    wrong = {
        op: f"expected {NODE_EXPECTED[actor][op]}, got {got[op]}"
        for op in got
        if got[op] != NODE_EXPECTED[actor][op]
    }
    assert not wrong, f"{actor}: {wrong}"
    assert not unrecorded, f"{actor}: not recorded: {unrecorded}"


def test_node_matrix_table_is_complete():
    assert all(set(row) == set(NODE_OPS) for row in NODE_EXPECTED.values())
    assert {name for name, _ in NODE_OPS.values()} == {
        name for op, (name, *_) in OPS.items() if op.startswith("node_")
    }

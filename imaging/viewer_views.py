"""The viewer page: a scan's study in the Cornerstone3D viewer (static/viewer/, built from
viewer/), which reads it from /dicomweb with the user's session.

The page is decided and recorded like the scan page (``view`` of the scan opened); the
viewer's DICOMweb requests are decided and recorded one by one. A clinician also sees the
identity check: the patient named in the study's DICOM files next to the portal patient
(imaging.viewer_selectors), which appears on this page only.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from imaging import selectors, viewer_selectors
from imaging.permissions import authorize, decision_message
from portal.models import Role

# Cornerstone3D's tools draw their mouse cursors as SVG images behind blob: URLs that the page's
# own script makes; nothing else is added to the site's policy (no inline script or style, no
# eval, no 'wasm-unsafe-eval': the portal serves frames uncompressed, so no codec ships).
VIEWER_CSP = {"img-src": ["blob:"]}


@login_required
@csp_update(VIEWER_CSP)
def viewer_page(request, scan_id):
    scan = selectors.scan_by_id(scan_id)
    if scan is None:
        raise Http404("Scan not found.")
    decision = authorize(actor=request.user, action="view", patient=scan.patient, scan=scan)
    if not decision.allowed:
        if decision.status_code == 404:
            raise Http404(decision_message(decision, "view"))
        raise PermissionDenied(decision_message(decision, "view"))
    if scan.series_id is None:
        raise Http404("This scan is not filed in a DICOM study, so the viewer cannot open it.")
    series = scan.series
    identity = None
    if request.user.role != Role.PATIENT:  # the patient's own view stays simpler
        identity = viewer_selectors.study_identity(scan=scan, reader=request.user, recorded=scan)
    base = reverse("dicomweb:studies")[: -len("/studies")]
    return render(
        request,
        "imaging/viewer.html",
        {
            "scan": scan,
            "patient": series.study.patient,
            "study_uid": series.study.study_instance_uid,
            "series_uid": series.series_instance_uid,
            "dicomweb": base,
            "identity": identity,
        },
    )

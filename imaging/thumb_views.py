"""GET /scans/<id>/thumb.png: a 96 px thumbnail of the scan's encrypted preview.

Decided by the policy decision point like the preview itself (``view`` on the scan: a reader
without consent gets 404/403 and no image). Not recorded one by one: thumbnails appear only
inside the scan lists and the consent form's picker, whose page already records one ``list``
event (recording each thumbnail would put a dozen "viewed" lines in the patient's history per
list). Denials are recorded as usual.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from imaging import selectors, thumbnails
from imaging.permissions import authorize, decision_message


@login_required
@require_GET
def thumbnail(request, scan_id):
    scan = selectors.scan_by_id(scan_id)
    if scan is None:
        raise Http404("Scan not found.")
    decision = authorize(actor=request.user, action="view", patient=scan.patient, scan=scan, record=False)
    if not decision.allowed:
        # a refused thumbnail is recorded like any refused access
        authorize(actor=request.user, action="view", patient=scan.patient, scan=scan)
        if decision.status_code == 404:
            raise Http404(decision_message(decision, "view"))
        raise PermissionDenied(decision_message(decision, "view"))
    result = thumbnails.thumbnail_for(scan, reader=request.user)
    if result.status != 200:
        if result.status == 404:
            raise Http404(result.message)
        if result.status == 403:
            raise PermissionDenied(result.message)
        return HttpResponse(result.message, status=result.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(result.png, content_type="image/png")
    # never cached: a revoked consent stops the picture at once, like the preview
    response["Cache-Control"] = "private, no-store"
    return response

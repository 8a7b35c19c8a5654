"""The clinician's pages for scans other hospitals share (this node is B), mounted at
/network/shared/: the list ("shared with you by hospital A") and the viewer with its integrity
badge. Thin: check the role, call `federation.remote`, render; a scan that cannot be shown is a
page that says why, with the status the reason calls for."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from federation import remote
from portal.models import Role


def _clinician(request) -> None:
    if not request.user.is_active or request.user.role != Role.CLINICIAN:
        raise PermissionDenied("Scans shared by other hospitals are for this hospital's clinicians.")


@login_required
@require_GET
@never_cache
def shared(request):
    _clinician(request)
    return render(request, "federation/shared.html", {"hospitals": remote.shared_with(request.user)})


@login_required
@require_GET
@never_cache
def remote_scan(request, peer_id: int, scan_id: uuid.UUID):
    _clinician(request)
    peer = remote.peer_for(peer_id)
    if peer is None:
        raise Http404("No such hospital.")
    try:
        opened = remote.open_scan(request.user, peer, scan_id)
    except remote.RemoteError as exc:
        return render(
            request, "federation/remote_error.html", {"peer": peer, "error": exc}, status=exc.status
        )
    return render(request, "federation/remote_scan.html", {"peer": peer, "opened": opened})

"""DRF authentication for the node API (`/federation/v1/`): a request signed by a peer node
(federation.nodeauth). `request.user` is the calling clinician's shadow user here and
`request.auth` the `NodeCaller` (peer, clinician, key id)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from federation import nodeauth


class NodeAuthFailed(exceptions.AuthenticationFailed):
    def __init__(self, error: nodeauth.NodeAuthError):
        super().__init__(error.detail)
        self.problem_title = error.title


class NodeForbidden(exceptions.PermissionDenied):
    def __init__(self, error: nodeauth.NodeAuthError):
        super().__init__(error.detail)
        self.problem_title = error.title


class NodeSignatureAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[object, nodeauth.NodeCaller]:
        try:
            caller = nodeauth.verify(request._request)
        except nodeauth.NodeAuthError as exc:
            raise (NodeAuthFailed if exc.status == 401 else NodeForbidden)(exc) from None
        return caller.clinician, caller

    def authenticate_header(self, request: Request) -> str:
        return nodeauth.WWW_AUTHENTICATE

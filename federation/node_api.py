"""The node API: what a peer node's clinician may fetch of this node's patients' scans, under
their consent. Mounted at /federation/v1/ (federation/node_api_urls.py). Every request is
signed by the peer's node key (RFC 9421, `federation.api_auth.NodeSignatureAuthentication`):
`request.user` is the clinician's shadow user here, `request.auth` the `NodeCaller`. Each one
is decided by `portal.policy.decide` for purpose TREAT and recorded (`portal.access.authorize`),
so the patient's access history shows "Dr X at hospital B"; a refusal is an RFC 9457 problem.

    GET /federation/v1/shared
        200 {"origin", "patients": [{"patient": {"id", "display_name"},
                                     "scans": [{"id", "modality", "body_part", "source_format",
                                                "study_date", "created_at", "url"}]}]}
    GET /federation/v1/scans/<scan_id>                          (decides `view`)
        200 {"origin", "scan": {... as listed, "width", "height", "frames"},
             "patient": {"id", "display_name"},
             "diagnosis": {"label", "probability", "model_id", "model_version", "model_sha256"} | null,
             "key_fingerprint": the fingerprint of the clinician's public key the wraps are for,
             "objects": {kind: OBJECT} for "preview", "matrix" and, when the consent allows
                        `download`, "original",
             "original": OBJECT | null (the same as objects["original"]),
             "registration": {"event_id", "receipt"} | null: the receipt (ledger.selectors
                        `receipt_for_event`, with the openings of its commitments, so the CIDs
                        and ciphertext SHA-256 of every object) of the scan's `scan.registered`
                        entry; "receipt" is null until a checkpoint covers the entry,
             "access": {"event_id", "receipt_url"}: the `scan.accessed` event this request
                        recorded; its receipt comes later from receipt_url}
        OBJECT = {"object_id", "kind", "version", "cid", "ciphertext_sha256",
                  "size" (plaintext bytes), "url",
                  "wrapped_key": base64 of the data key wrapped for the clinician's hybrid
                                 ML-KEM-768 + X25519 public key (crypto.hybrid_kem.wrap) | null,
                  "wrap_context": the context the wrap is bound to (hybrid_kem.unwrap's)}
        Decrypt: crypto.envelope.decrypt(ciphertext, data_key, object_id=, kind=, version=).
    GET /federation/v1/objects/<object_id>      (decides `download` for an original, else `view`)
        200 the ciphertext (application/octet-stream), with Content-Length and Content-Digest
        (RFC 9530, sha-256), streamed in chunks
    GET /federation/v1/receipts/<event_id>
        200 {"event_id", "status": "pending" | "ready", "receipt": RECEIPT | null}: the receipt
        (with openings) of one of the calling clinician's own recorded accesses here; 404 for
        any other event id. Not a policy decision: it is the caller's own record.

Why the access receipt comes later: the `scan.accessed` entry of a request is signed, covered
by a checkpoint and witnessed (by the peer among others) only after the request ends, so the
scan's answer carries the receipt of its `scan.registered` entry, witnessed long before, and
the access event's id.
"""

from __future__ import annotations

import base64
import logging

from django.http import StreamingHttpResponse
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import problem
from federation import shared_selectors
from federation.api_auth import NodeSignatureAuthentication
from federation.nodeauth import NodeCaller
from imaging.storage import BlobCorrupted, BlobNotFound, StorageError, StorageUnavailable
from ledger.services import origin

log = logging.getLogger(__name__)

NOT_FOUND = "No such scan, or it is not shared with you."


class IsNodeCaller(BasePermission):
    """A request whose node signature verified (`NodeSignatureAuthentication`)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, NodeCaller)


class NodeApiView(APIView):
    authentication_classes = [NodeSignatureAuthentication]
    permission_classes = [IsNodeCaller]
    renderer_classes = [JSONRenderer]
    schema = None  # a node-to-node protocol (this module's docstring), not the portal's OpenAPI API

    def _refused(self, request, what: str, decision) -> Response:
        log.info(
            "node api: %s refused to a clinician of %s: %s", what, request.auth.peer.origin, decision.reason
        )
        return problem(decision.status_code, decision.message)

    def _unknown(self, request, what: str) -> Response:
        log.info("node api: unknown %s asked by a clinician of %s", what, request.auth.peer.origin)
        return problem(404, NOT_FOUND)


class SharedView(NodeApiView):
    def get(self, request):
        return Response({"origin": origin(), "patients": shared_selectors.shared_with(request.user)})


class ScanView(NodeApiView):
    def get(self, request, scan_id):
        scan = shared_selectors.scan_for_request(scan_id)
        if scan is None:
            return self._unknown(request, "scan")
        decision = shared_selectors.decide_scan(request.user, scan)
        if not decision.allowed:
            return self._refused(request, "scan", decision)
        return Response(shared_selectors.scan_document(scan, request.user, decision))


class ObjectView(NodeApiView):
    def get(self, request, object_id):
        obj = shared_selectors.object_for_request(object_id)
        if obj is None:
            return self._unknown(request, "object")
        action = shared_selectors.ACTION_FOR_KIND.get(obj.kind, "view")
        decision = shared_selectors.decide_scan(request.user, obj.scan, action)
        if not decision.allowed:
            return self._refused(request, "object", decision)
        try:
            ciphertext = shared_selectors.ciphertext_of(obj)
        except BlobNotFound:
            return problem(404, "This object is missing from storage here.")
        except BlobCorrupted:
            log.error("node api: stored object %s failed its integrity check", obj.pk)
            return problem(500, "This object failed its integrity check here; it is not sent.")
        except StorageUnavailable:
            return problem(503, "Storage is unavailable; try again shortly.", headers={"Retry-After": "30"})
        except StorageError:
            return problem(503, "The object could not be read; try again shortly.")
        response = StreamingHttpResponse(ciphertext.chunks(), content_type="application/octet-stream")
        response["Content-Length"] = str(len(ciphertext.blob))
        response["Content-Digest"] = f"sha-256=:{base64.b64encode(ciphertext.digest).decode()}:"
        response["Cache-Control"] = "no-store"
        return response


class ReceiptView(NodeApiView):
    def get(self, request, event_id):
        own, receipt = shared_selectors.own_access_receipt(request.user, event_id)
        if not own:
            log.info("node api: receipt of another's event asked by %s", request.auth.peer.origin)
            return problem(404, "No such access of yours is recorded here.")
        return Response(
            {"event_id": str(event_id), "status": "ready" if receipt else "pending", "receipt": receipt}
        )

"""Ledger receipts with their openings, for authorised readers only.

The public ledger (/api/v1/ledger/...) shows the v2 entries about patients as salted
commitments only. Here, signed in:

- ``GET /api/v1/receipts``: a patient's own ledger entries (from the ledger's private index);
- ``GET /api/v1/receipts/<event_id>``: the receipt of one entry with the openings (salt and
  value) of its commitments, for the patient the entry is about and, for a `scan.registered`
  entry, for a reader the policy lets view that scan (that look is decided and recorded like
  any view of the scan). Everyone else gets 404, as for an unknown event.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError
from core.api.openapi import PAGE, PROBLEM_EXAMPLES, RETRY_AFTER, problems
from core.keyvault import pseudonym
from portal.access import authorize
from portal.api.permissions import PURPOSE_HEADER, purpose_of
from portal.models import Role

NOT_FOUND = "No such receipt, or it is not yours to see."
ERASED = "erased: this scan was erased at the patient's request; only its commitments remain on the ledger."


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class LedgerEventSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    recorded_at = serializers.DateTimeField(source="created_at")
    receipt_url = serializers.SerializerMethodField(
        help_text="The receipt with the openings of the entry's commitments (404 until a checkpoint covers it)."
    )

    def get_receipt_url(self, row) -> str:
        return reverse("api-receipt", args=[str(row.event_id)])


class ReceiptListView(generics.GenericAPIView):
    required_scopes = ["history:read"]
    serializer_class = LedgerEventSerializer

    @extend_schema(
        operation_id="receipts_list",
        summary="Your ledger entries (patients only)",
        description="Every ledger entry about you, newest first, each with the URL of its receipt "
        "and the openings of its commitments.",
        parameters=[PAGE, RETRY_AFTER],
        responses={200: LedgerEventSerializer(many=True), **problems(401, 403, 404, 429)},
        examples=PROBLEM_EXAMPLES,
        tags=["people"],
    )
    def get(self, request):
        from ledger.selectors import events_of_subject

        user = request.user
        if user.role != Role.PATIENT:
            raise ApiError("Only patients have ledger entries of their own.", 403)
        decision = authorize(actor=user, action="view_history", patient=user, record=False)
        if not decision.allowed:
            raise ApiError(decision.message, decision.status_code)
        page = self.paginate_queryset(events_of_subject(pseudonym("patient", user.pk)))
        return self.get_paginated_response(LedgerEventSerializer(page, many=True).data)


class ReceiptView(APIView):
    required_scopes = ["scans:read"]

    @extend_schema(
        operation_id="receipt_retrieve",
        summary="A ledger receipt with the openings of its commitments",
        description="The receipt (entry, signed checkpoint, inclusion proof, keys) plus `openings`: "
        "{field: {salt, value}} behind the entry's commitments. `python -m ledger.verify_offline "
        "keys.json --receipt receipt.json` checks them.",
        parameters=[OpenApiParameter("event_id", str, OpenApiParameter.PATH), PURPOSE_HEADER, RETRY_AFTER],
        responses={200: OpenApiTypes.OBJECT, **problems(400, 401, 403, 404, 429)},
        examples=PROBLEM_EXAMPLES,
        tags=["people"],
    )
    def get(self, request, event_id: str):
        from ledger.selectors import opened_facts, opening_for_event, receipt_for_event

        row = opening_for_event(event_id)
        if row is None:
            from portal.models import ErasedScan

            if _is_uuid(event_id) and ErasedScan.objects.filter(ledger_event_id=event_id).exists():
                # the entry of a scan erased by crypto-shredding (imaging/erasure.py): its openings are gone
                raise ApiError(ERASED, 410)
            raise ApiError(NOT_FOUND, 404)
        user = request.user
        if user.role == Role.PATIENT and row.subject and row.subject == pseudonym("patient", user.pk):
            decision = authorize(actor=user, action="view_history", patient=user, record=False)
        elif row.event_type == "scan.registered":
            from imaging.consent_port import scan_for_decision

            scan = scan_for_decision(opened_facts(event_id).get("scan_id"))
            if scan is None:
                raise ApiError(NOT_FOUND, 404)
            decision = authorize(actor=user, action="view", scan=scan, purpose=purpose_of(request))
        else:
            raise ApiError(NOT_FOUND, 404)
        if not decision.allowed:  # whatever the reason, an outsider learns nothing of the entry
            raise ApiError(NOT_FOUND, 404)
        receipt = receipt_for_event(event_id, with_openings=True)
        if receipt is None:
            raise ApiError("No receipt yet: no signed checkpoint covers this entry; try again shortly.", 404)
        return Response(receipt)

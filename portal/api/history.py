"""GET /api/v1/access-history: the patient's own access history, each row with its ledger receipt."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers

from core.api.errors import ApiError
from core.api.openapi import PAGE, PROBLEM_EXAMPLES, RETRY_AFTER, problem_example, problems
from portal.access import authorize
from portal.models import AccessEvent, Role


class AccessEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    at = serializers.DateTimeField()
    actor = serializers.SerializerMethodField(help_text="Who asked (name, or the API client's name).")
    actor_role = serializers.SerializerMethodField()
    action = serializers.CharField()
    purpose = serializers.CharField()
    allowed = serializers.BooleanField()
    reason = serializers.CharField(help_text="Policy reason code, e.g. consent, owner, wrong_purpose.")
    scan_id = serializers.UUIDField(allow_null=True)
    consent_id = serializers.SerializerMethodField()
    breakglass = serializers.SerializerMethodField(help_text="True for emergency (break-glass) access.")
    ledger_event_id = serializers.UUIDField(allow_null=True)
    receipt_url = serializers.SerializerMethodField(
        help_text="Signed ledger receipt (404 until a checkpoint covers the entry)."
    )

    def get_actor(self, event) -> str:
        return event.actor.display_name() if event.actor_id else "anonymous"

    def get_actor_role(self, event) -> str:
        return event.actor.role if event.actor_id else "anonymous"

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_consent_id(self, event) -> str | None:
        return str(event.consent.series) if event.consent_id else None

    def get_breakglass(self, event) -> bool:
        return event.breakglass_id is not None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_receipt_url(self, event) -> str | None:
        if not event.ledger_event_id:
            return None
        return reverse("ledger-api-receipt", args=[str(event.ledger_event_id)])


HISTORY_EXAMPLE = OpenApiExample(
    "A clinician viewed a scan under consent",
    value={
        "id": "3b8f2a4e-98a1-4c55-9d2e-2c1f0e5d7a66",
        "at": "2026-01-14T09:20:00Z",
        "actor": "Dr Ada Lovelace",
        "actor_role": "clinician",
        "action": "view",
        "purpose": "TREAT",
        "allowed": True,
        "reason": "consent",
        "scan_id": "0b5f3f52-3f2e-4c9b-a0d5-0b4c6f0e9a11",
        "consent_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "breakglass": False,
        "ledger_event_id": "8a7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910",
        "receipt_url": "/api/v1/ledger/receipts/8a7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910",
    },
    response_only=True,
    status_codes=["200"],
)


class AccessHistoryView(generics.GenericAPIView):
    required_scopes = ["history:read"]
    serializer_class = AccessEventSerializer

    @extend_schema(
        operation_id="access_history_list",
        summary="Your access history (patients only)",
        description="Every decision of the policy on your data, newest first: who, what, when, purpose, "
        "allowed or denied, break-glass flagged, and the ledger receipt of each row.",
        parameters=[
            OpenApiParameter("allowed", bool, description="Only allowed (true) or denied (false) rows."),
            PAGE,
            RETRY_AFTER,
        ],
        responses={200: AccessEventSerializer(many=True), **problems(400, 401, 403, 404, 429)},
        examples=[
            HISTORY_EXAMPLE,
            *PROBLEM_EXAMPLES,
            problem_example(403, "Only patients have an access history.", name="Not a patient"),
        ],
        tags=["people"],
    )
    def get(self, request):
        user = request.user
        if user.role != Role.PATIENT:
            raise ApiError("Only patients have an access history.", 403)
        allowed = request.query_params.get("allowed")
        if allowed not in (None, "true", "false"):
            raise ApiError("allowed must be true or false.", 400)
        # the owner reading their own history: decided like every access, not recorded (a row per
        # look at the history would fill the history with itself)
        decision = authorize(actor=user, action="view_history", patient=user, record=False)
        if not decision.allowed:
            raise ApiError(decision.message, decision.status_code)
        events = AccessEvent.objects.filter(patient=user).select_related("actor", "consent")
        if allowed is not None:
            events = events.filter(allowed=allowed == "true")
        page = self.paginate_queryset(events.order_by("-at", "id"))
        return self.get_paginated_response(AccessEventSerializer(page, many=True).data)

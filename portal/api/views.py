import uuid

from django.db.models import Q
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError
from core.api.openapi import problems
from portal.api.serializers import (
    ConsentCreateSerializer,
    ConsentSerializer,
    MeSerializer,
    RevokeResultSerializer,
)
from portal.consent_services import ConsentError, consent_grant, consent_revoke
from portal.fhir import consent_to_fhir
from portal.models import Consent, Role

_PROBLEMS = problems(400, 401, 403, 404)
_SERIES = OpenApiParameter("series", str, OpenApiParameter.PATH, description="consent id (UUID)")


class MeView(APIView):
    required_scopes: list[str] = []

    @extend_schema(responses=MeSerializer, summary="Who am I", tags=["people"])
    def get(self, request):
        user = request.user
        return Response(
            MeSerializer(
                {
                    "id": user.pk,
                    "username": user.username,
                    "display_name": user.display_name(),
                    "role": user.role,
                    "organisation": str(user.organisation) if user.organisation_id else None,
                    "second_factor_verified": bool(getattr(user, "is_verified", lambda: False)()),
                }
            ).data
        )


def _visible_consents(user):
    """Patients see their own; grantees see consents granted to them (or their organisation)."""
    if user.role == Role.PATIENT:
        return Consent.objects.filter(patient=user)
    if user.role in (Role.CLINICIAN, Role.API_CLIENT):
        grantee = Q(grantee_user=user)
        if user.organisation_id:
            grantee |= Q(grantee_org_id=user.organisation_id)
        return Consent.objects.filter(grantee)
    return Consent.objects.none()


GRANT_EXAMPLE = OpenApiExample(
    "Grant a clinician view for treatment, 30 days",
    value={
        "grantee_user": "6f1c1f8e-5b7e-4c55-9a53-2d3f3c1b9b10",
        "actions": ["view"],
        "purposes": ["TREAT"],
        "scope_kind": "all",
        "end": "2026-12-21T00:00:00Z",
    },
    request_only=True,
)


class ConsentListCreate(generics.ListCreateAPIView):
    required_scopes = {"GET": ["consents:read"], "POST": ["consents:write"]}
    serializer_class = ConsentSerializer

    def get_queryset(self):
        qs = _visible_consents(self.request.user).select_related("grantee_user", "grantee_org")
        if self.request.query_params.get("all_versions") != "true":
            qs = qs.filter(is_current=True)
        return qs.order_by("-created_at")

    @extend_schema(
        request=ConsentCreateSerializer,
        responses={201: ConsentSerializer, **_PROBLEMS},
        examples=[GRANT_EXAMPLE],
        summary="Grant a consent (patients only)",
        tags=["consents"],
    )
    def post(self, request, *args, **kwargs):
        if request.user.role != Role.PATIENT:
            raise ApiError("Only patients can grant access to their scans.", 403)
        data = ConsentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            consent = consent_grant(patient=request.user, **data.validated_data)
        except ConsentError as exc:
            raise ApiError(exc.message, exc.status_code) from None
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="List consents you gave (patients) or hold (grantees)", tags=["consents"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _current(request, series: str) -> Consent:
    try:
        series = uuid.UUID(series)
    except ValueError:
        raise ApiError("No such consent.", 404) from None
    consent = _visible_consents(request.user).filter(series=series, is_current=True).first()
    if consent is None:
        raise ApiError("No such consent.", 404)
    return consent


class ConsentDetail(APIView):
    required_scopes = ["consents:read"]

    @extend_schema(
        responses={200: ConsentSerializer, **_PROBLEMS},
        parameters=[_SERIES],
        summary="Current version of a consent",
        tags=["consents"],
    )
    def get(self, request, series):
        return Response(ConsentSerializer(_current(request, series)).data)


class ConsentRevoke(APIView):
    required_scopes = ["consents:write"]

    @extend_schema(
        request=None,
        responses={200: RevokeResultSerializer, 404: OpenApiResponse(description="unknown")},
        summary="Revoke a consent (patients only; revoking twice is a no-op)",
        tags=["consents"],
    )
    def post(self, request, series):
        consent = _current(request, series)
        try:
            revoked, changed = consent_revoke(actor=request.user, consent=consent)
        except ConsentError as exc:
            raise ApiError(exc.message, exc.status_code) from None
        detail = "Revoked: access ends now." if changed else "Already revoked; nothing changed."
        return Response(
            RevokeResultSerializer({"changed": changed, "detail": detail, "consent": revoked}).data
        )


class ConsentFhir(APIView):
    required_scopes = ["consents:read"]

    @extend_schema(
        responses={200: OpenApiResponse(description="FHIR R4 Consent resource (JSON)")},
        summary="Export a consent as FHIR R4 Consent",
        tags=["consents"],
    )
    def get(self, request, series):
        response = Response(consent_to_fhir(_current(request, series)))
        response.content_type = "application/fhir+json"
        return response

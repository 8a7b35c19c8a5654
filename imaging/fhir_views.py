"""FHIR R4 reads of imaging (imaging.fhir): ImagingStudy and DiagnosticReport, under the API's
authentication (``scans:read``), the caller's purpose of use and the patient's consent, each
read decided and recorded like the scan API's.

A research purpose (HRESCH) is refused before any lookup: these resources are identified (the
portal patient, the real UIDs), and a research caller reads de-identified DICOM over /dicomweb.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError
from core.api.openapi import PROBLEM_EXAMPLES, problem_example, problems
from imaging import api_selectors, fhir, research
from imaging.permissions import authorize, decision_message
from portal.api.permissions import PURPOSE_HEADER, purpose_of

RESEARCH_REFUSED = (
    "FHIR imaging resources are identified; a research purpose (HRESCH) reads de-identified "
    "instances over /dicomweb instead."
)
ERRORS = (400, 401, 403, 404, 429)


class FhirJsonRenderer(JSONRenderer):
    media_type = fhir.MEDIA_TYPE
    format = "fhir"


class FhirView(APIView):
    required_scopes = ["scans:read"]
    renderer_classes = [FhirJsonRenderer, JSONRenderer]

    def purpose(self, request) -> str:
        purpose = purpose_of(request)
        if research.is_research(purpose):
            raise ApiError(RESEARCH_REFUSED, 403)
        return purpose


def _resource(description: str):
    """The resource as application/fhir+json, or as application/json when that is asked for."""
    body = OpenApiResponse(OpenApiTypes.OBJECT, description=description)
    return {(200, fhir.MEDIA_TYPE): body, (200, "application/json"): body}


class ImagingStudyView(FhirView):
    @extend_schema(
        operation_id="fhir_imaging_study_retrieve",
        summary="A study as a FHIR R4 ImagingStudy, with the DICOMweb endpoint",
        description="The series and instances the patient's consent lets you view (each `view` "
        "decision recorded), and a contained Endpoint for the portal's DICOMweb service "
        "(WADO-RS, QIDO-RS). The id is the portal's study id.",
        parameters=[OpenApiParameter("study_id", OpenApiTypes.UUID, OpenApiParameter.PATH), PURPOSE_HEADER],
        responses={**_resource("FHIR R4 ImagingStudy"), **problems(*ERRORS)},
        examples=PROBLEM_EXAMPLES,
        tags=["fhir"],
    )
    def get(self, request, study_id):
        study, scans = fhir.study_instances(
            actor=request.user, purpose=self.purpose(request), study_id=study_id
        )
        dicomweb = request.build_absolute_uri(reverse("dicomweb:studies"))[: -len("/studies")]
        return Response(fhir.imaging_study(study, scans, dicomweb=dicomweb))


class DiagnosticReportView(FhirView):
    @extend_schema(
        operation_id="fhir_diagnostic_report_retrieve",
        summary="A scan's diagnosis as a FHIR R4 DiagnosticReport, naming the model and version",
        description="The result is a contained Observation made by a contained Device (the "
        "model id, version and artifact hash). A result of the quantum convolutional network is "
        "tagged and worded as a simulation. The id is the scan id; `view` decision recorded.",
        parameters=[OpenApiParameter("scan_id", OpenApiTypes.UUID, OpenApiParameter.PATH), PURPOSE_HEADER],
        responses={**_resource("FHIR R4 DiagnosticReport"), **problems(*ERRORS, 409)},
        examples=[
            *PROBLEM_EXAMPLES,
            problem_example(409, "The scan is still being processed (diagnosing); no diagnosis yet."),
        ],
        tags=["fhir"],
    )
    def get(self, request, scan_id):
        purpose = self.purpose(request)
        scan = api_selectors.scan_for_detail(scan_id)
        if scan is None:
            raise ApiError(fhir.NOT_FOUND, 404)
        decision = authorize(actor=request.user, action="view", scan=scan, purpose=purpose)
        if not decision.allowed:
            raise ApiError(decision_message(decision, "view"), decision.status_code or 403)
        return Response(fhir.diagnostic_report(scan, fhir.model_of(scan)))

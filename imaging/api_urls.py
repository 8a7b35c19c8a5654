from django.urls import path

from imaging import api_views, fhir_views

# scan ids are parsed by the views so a malformed id gets the same problem+json 404 as an unknown one

app_name = "imaging-api"
urlpatterns = [
    path("scans", api_views.ScanCollectionView.as_view(), name="scans"),
    path("scans/<str:scan_id>", api_views.ScanDetailView.as_view(), name="scan-detail"),
    path("scans/<str:scan_id>/status", api_views.ScanStatusView.as_view(), name="scan-status"),
    path("scans/<str:scan_id>/diagnosis", api_views.ScanDiagnosisView.as_view(), name="scan-diagnosis"),
    path("scans/<str:scan_id>/original", api_views.ScanOriginalView.as_view(), name="scan-original"),
    path("scans/<str:scan_id>/preview", api_views.ScanPreviewView.as_view(), name="scan-preview"),
    path("patients", api_views.PatientListView.as_view(), name="patients"),
    # FHIR R4 beside DICOMweb (imaging.fhir): ids are the portal's study and scan ids
    path(
        "fhir/ImagingStudy/<str:study_id>", fhir_views.ImagingStudyView.as_view(), name="fhir-imaging-study"
    ),
    path(
        "fhir/DiagnosticReport/<str:scan_id>",
        fhir_views.DiagnosticReportView.as_view(),
        name="fhir-diagnostic-report",
    ),
]

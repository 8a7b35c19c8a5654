from django.urls import path

from imaging import api_views

app_name = "imaging-api"
urlpatterns = [
    path("scans", api_views.ScanCollectionView.as_view(), name="scans"),
    path("scans/<uuid:scan_id>", api_views.ScanDetailView.as_view(), name="scan-detail"),
    path("scans/<uuid:scan_id>/status", api_views.ScanStatusView.as_view(), name="scan-status"),
    path("scans/<uuid:scan_id>/diagnosis", api_views.ScanDiagnosisView.as_view(), name="scan-diagnosis"),
    path("scans/<uuid:scan_id>/original", api_views.ScanOriginalView.as_view(), name="scan-original"),
    path("scans/<uuid:scan_id>/preview", api_views.ScanPreviewView.as_view(), name="scan-preview"),
    path("patients", api_views.PatientListView.as_view(), name="patients"),
]

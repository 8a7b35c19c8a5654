from django.urls import path

from imaging import api_views

app_name = "imaging-api"
urlpatterns = [
    path("scans", api_views.ScanUploadView.as_view(), name="scan-upload"),
    path("scans/<uuid:scan_id>/status", api_views.ScanStatusView.as_view(), name="scan-status"),
]

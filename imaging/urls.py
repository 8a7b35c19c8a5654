from django.urls import path

from imaging import neqr_layer_views, thumb_views, viewer_views, views
from imaging.dimse import views as dimse_views

app_name = "imaging"
urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.upload, name="upload"),
    path("reconcile/", dimse_views.reconcile, name="reconcile"),
    path("reconcile/<uuid:pending_id>/attach", dimse_views.reconcile_attach, name="reconcile-attach"),
    path("patient/<uuid:patient_id>/", views.patient_scans, name="patient-scans"),
    path("<uuid:scan_id>/", views.scan_page, name="scan"),
    path("<uuid:scan_id>/status", views.scan_status, name="status"),
    path("<uuid:scan_id>/thumb.png", thumb_views.thumbnail, name="thumb"),
    path("<uuid:scan_id>/retry", views.scan_retry, name="retry"),
    path("<uuid:scan_id>/viewer/", viewer_views.viewer_page, name="viewer"),
    path("<uuid:scan_id>/neqr-cipher.png", neqr_layer_views.cipher_image, name="neqr-cipher"),
    path("<uuid:scan_id>/saliency.png", views.saliency_overlay, name="saliency"),
    path("models/", views.models_list, name="models"),
    path("models/<uuid:model_pk>/activate", views.model_activate, name="model-activate"),
    path("models/<uuid:model_pk>/card", views.model_card, name="model-card"),
]

from django.urls import path

from imaging import neqr_layer_views, views

app_name = "imaging"
urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.upload, name="upload"),
    path("patient/<uuid:patient_id>/", views.patient_scans, name="patient-scans"),
    path("<uuid:scan_id>/", views.scan_page, name="scan"),
    path("<uuid:scan_id>/status", views.scan_status, name="status"),
    path("<uuid:scan_id>/retry", views.scan_retry, name="retry"),
    path("<uuid:scan_id>/neqr-cipher.png", neqr_layer_views.cipher_image, name="neqr-cipher"),
    path("models/", views.models_list, name="models"),
    path("models/<uuid:model_pk>/activate", views.model_activate, name="model-activate"),
    path("models/<uuid:model_pk>/card", views.model_card, name="model-card"),
]

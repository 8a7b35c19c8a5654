from django.urls import path

from portal.api import history, receipts, views

urlpatterns = [
    path("me", views.MeView.as_view(), name="api-me"),
    path("consents", views.ConsentListCreate.as_view(), name="api-consents"),
    path("consents/<str:series>", views.ConsentDetail.as_view(), name="api-consent"),
    path("consents/<str:series>/revoke", views.ConsentRevoke.as_view(), name="api-consent-revoke"),
    path("consents/<str:series>/fhir", views.ConsentFhir.as_view(), name="api-consent-fhir"),
    path("access-history", history.AccessHistoryView.as_view(), name="api-access-history"),
    path("receipts", receipts.ReceiptListView.as_view(), name="api-receipts"),
    path("receipts/<str:event_id>", receipts.ReceiptView.as_view(), name="api-receipt"),
]

from django.urls import path

from ledger import api_views

urlpatterns = [
    path("checkpoint", api_views.CheckpointView.as_view(), name="ledger-api-checkpoint"),
    path("entries", api_views.EntriesView.as_view(), name="ledger-api-entries"),
    path("entries/<str:index>", api_views.EntryView.as_view(), name="ledger-api-entry"),
    path("proof/consistency", api_views.ConsistencyView.as_view(), name="ledger-api-consistency"),
    path("keys", api_views.KeysView.as_view(), name="ledger-api-keys"),
    path("receipts/<str:event_id>", api_views.ReceiptView.as_view(), name="ledger-api-receipt"),
]

"""The node API (federation/node_api.py), mounted at /federation/v1/ by federation/protocol_urls.py."""

from django.urls import path

from federation import node_api

urlpatterns: list = [
    path("shared", node_api.SharedView.as_view(), name="node-api-shared"),
    path("scans/<uuid:scan_id>", node_api.ScanView.as_view(), name="node-api-scan"),
    path("objects/<uuid:object_id>", node_api.ObjectView.as_view(), name="node-api-object"),
    path("receipts/<uuid:event_id>", node_api.ReceiptView.as_view(), name="node-api-receipt"),
]

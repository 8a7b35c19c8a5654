"""The hospital network's web pages, mounted at /network/."""

from django.urls import path

from federation import views, views_remote

app_name = "federation"
urlpatterns: list = [
    path("", views.network, name="network"),
    path("peers/add/", views.peer_add, name="peer-add"),
    path("peers/<int:peer_id>/", views.peer, name="peer"),
    path("peers/<int:peer_id>/quantum/", views.peer_quantum, name="peer-quantum"),
    path("evidence/", views.evidence_list, name="evidence-list"),
    path("evidence/<int:evidence_id>.json", views.evidence_json, name="evidence-json"),
    # a clinician's scans shared by other hospitals (federation/views_remote.py)
    path("shared/", views_remote.shared, name="shared"),
    path("shared/<int:peer_id>/<uuid:scan_id>/", views_remote.remote_scan, name="remote-scan"),
]

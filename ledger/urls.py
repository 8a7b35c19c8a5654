from django.urls import path

from ledger import explorer_views, views

app_name = "ledger"
urlpatterns = [
    path("", views.status, name="status"),
    path("explorer/", explorer_views.explorer, name="explorer"),
    path("explorer/entries/<int:index>/", explorer_views.entry, name="entry"),
    path("explorer/verify/", explorer_views.verify_start, name="verify"),
    path("explorer/verify/<str:job>/", explorer_views.verify_status, name="verify-status"),
]

from django.urls import path

from lab import api_views

app_name = "lab-api"
urlpatterns = [
    path("runs", api_views.RunListCreate.as_view(), name="runs"),
    path("runs/<uuid:run_id>", api_views.RunDetail.as_view(), name="run-detail"),
    path("runs/<uuid:run_id>/figure", api_views.RunFigure.as_view(), name="run-figure"),
]

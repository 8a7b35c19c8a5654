from django.urls import path

from lab import views

app_name = "lab"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/<slug:tool>/", views.new_run, name="new"),
    path("runs/<uuid:run_id>/", views.run_page, name="run"),
    path("runs/<uuid:run_id>/status", views.run_status, name="status"),
    path("runs/<uuid:run_id>/figure.png", views.run_figure, name="figure"),
]

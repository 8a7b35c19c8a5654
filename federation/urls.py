"""The hospital network's web pages, mounted at /network/."""

from django.urls import path  # noqa: F401 - the pages add their routes here

app_name = "federation"
urlpatterns: list = []

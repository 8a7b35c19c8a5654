"""DICOMweb resources (PS3.18 10.4, 10.5, 10.6), mounted at /dicomweb/. UIDs are checked by the
views, so a malformed one gets a problem like any other bad input."""

from django.urls import path

from imaging.dicomweb import views

app_name = "dicomweb"

STUDY = "studies/<str:study>"
SERIES = f"{STUDY}/series/<str:series>"
INSTANCE = f"{SERIES}/instances/<str:instance>"

urlpatterns = [
    # QIDO-RS search (and STOW-RS store on the studies resources)
    path("studies", views.StudiesView.as_view(level="study"), name="studies"),
    path("series", views.SearchView.as_view(level="series"), name="series"),
    path("instances", views.SearchView.as_view(level="instance"), name="instances"),
    path(f"{STUDY}/series", views.SearchView.as_view(level="series"), name="study-series"),
    path(f"{STUDY}/instances", views.SearchView.as_view(level="instance"), name="study-instances"),
    path(f"{SERIES}/instances", views.SearchView.as_view(level="instance"), name="series-instances"),
    # WADO-RS retrieve (and STOW-RS into a study)
    path(STUDY, views.StudyView.as_view(), name="study"),
    path(f"{STUDY}/metadata", views.MetadataView.as_view(), name="study-metadata"),
    path(SERIES, views.RetrieveView.as_view(), name="series-retrieve"),
    path(f"{SERIES}/metadata", views.MetadataView.as_view(), name="series-metadata"),
    path(INSTANCE, views.RetrieveView.as_view(), name="instance"),
    path(f"{INSTANCE}/metadata", views.MetadataView.as_view(), name="instance-metadata"),
    path(f"{INSTANCE}/frames/<str:frames>", views.FramesView.as_view(), name="frames"),
    path(f"{INSTANCE}/rendered", views.RenderedView.as_view(), name="instance-rendered"),
    path(f"{INSTANCE}/frames/<str:frames>/rendered", views.RenderedView.as_view(), name="frames-rendered"),
    path(f"{INSTANCE}/thumbnail", views.RenderedView.as_view(thumbnail=True), name="instance-thumbnail"),
]

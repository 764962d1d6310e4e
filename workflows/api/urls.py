"""URLs of the workflows API, mounted under /api/v1/."""

from django.urls import path

from workflows.api import views

app_name = "workflows-api"

urlpatterns = [
    path("events", views.EventCreateApi.as_view(), name="event-create"),
    path("events/batch", views.EventBatchApi.as_view(), name="event-batch"),
    path("runs", views.RunListApi.as_view(), name="run-list"),
    path("runs/<int:run_id>", views.RunDetailApi.as_view(), name="run-detail"),
    path("runs/<int:run_id>/replay", views.RunReplayApi.as_view(), name="run-replay"),
]

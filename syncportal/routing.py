"""WebSocket routes, mounted under /ws/ by syncportal.asgi."""

from django.urls import path

from transfers.consumers import DashboardConsumer, JobConsumer, PreviewConsumer

websocket_urlpatterns: list = [
    path("ws/jobs/<int:job_id>/", JobConsumer.as_asgi()),
    path("ws/previews/<int:preview_id>/", PreviewConsumer.as_asgi()),
    path("ws/dashboard/", DashboardConsumer.as_asgi()),
]

from django.urls import path

from transfers import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/<int:job_id>/manifest/", views.job_manifest, name="job_manifest"),
]

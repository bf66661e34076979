from django.urls import path

from transfers import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<int:pk>/", views.endpoint_detail, name="endpoint_detail"),
    path("endpoints/<int:pk>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<int:pk>/rotate/", views.endpoint_rotate, name="endpoint_rotate"),
    path("endpoints/<int:pk>/test/", views.endpoint_test, name="endpoint_test"),
    path("endpoints/<int:pk>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("profiles/", views.profile_list, name="profile_list"),
    path("profiles/new/", views.profile_create, name="profile_create"),
    path("profiles/schedule/", views.profile_schedule, name="profile_schedule"),
    path("profiles/<int:pk>/", views.profile_detail, name="profile_detail"),
    path("profiles/<int:pk>/edit/", views.profile_edit, name="profile_edit"),
    path("profiles/<int:pk>/delete/", views.profile_delete, name="profile_delete"),
    path("profiles/<int:pk>/preview/", views.profile_preview, name="profile_preview"),
    path("profiles/<int:pk>/run/", views.profile_run, name="profile_run"),
    path("profiles/<int:pk>/notifications/", views.notification_add, name="notification_add"),
    path("profiles/<int:pk>/deliveries/", views.profile_deliveries, name="profile_deliveries"),
    path(
        "notifications/<int:pk>/enabled/",
        views.notification_enabled,
        name="notification_enabled",
    ),
    path("notifications/<int:pk>/delete/", views.notification_delete, name="notification_delete"),
    path("previews/<int:pk>/", views.preview_detail, name="preview_detail"),
    path("previews/<int:pk>/cancel/", views.preview_cancel, name="preview_cancel"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/failures.csv", views.job_failures_csv, name="job_failures_csv"),
    path("jobs/<int:pk>/manifest/", views.job_manifest, name="job_manifest"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<int:pk>/approve/", views.job_approve, name="job_approve"),
]

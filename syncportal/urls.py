from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "SyncPortal administration"
admin.site.site_title = "SyncPortal admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("transfers.urls")),
]

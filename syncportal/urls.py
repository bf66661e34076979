from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

from accounts import oidc
from accounts import views as account_views
from syncportal.api import api

admin.site.site_header = "SyncPortal administration"
admin.site.site_title = "SyncPortal admin"
# The admin signs in through allauth too: same lockout, same MFA, same audit.
admin.site.login = secure_admin_login(admin.site.login)


def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's): the logo."""
    return HttpResponsePermanentRedirect(static("img/logo.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Before allauth's own: the same OIDC URLs, with nonce and signature checks (accounts.oidc).
    path("accounts/", include(oidc.urlpatterns)),
    # Under /accounts/, which the MFA policy leaves open: SSO users confirm here to enrol.
    path(
        "accounts/reauthenticate/sso/",
        account_views.sso_reauthenticate,
        name="sso_reauthenticate",
    ),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("transfers.urls")),
]

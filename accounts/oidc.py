"""OpenID Connect sign-in: allauth's `openid_connect` provider, with the checks it leaves out.

allauth drives the authorization-code flow with PKCE, the state and the code exchange. For the
ID token it checks issuer, audience and expiry, but skips the signature when the token came
straight from the token endpoint (allowed by OIDC Core 3.1.3.7) and sends no nonce. We add:

- a nonce in every authorization request, kept in the (single-use) state and compared with the
  ID token's `nonce` claim;
- the ID token's signature, always, against the provider's JWKS;
- the discovery document's issuer must be the configured server URL, and the userinfo
  subject must be the ID token's subject.

Wired through `SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]` and the two URL
patterns below, which take precedence over allauth's identical ones.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


class StrictOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    """Verifies the ID token fully (signature, issuer, audience, expiry, nonce)."""

    expected_nonce: str | None = None

    @property
    def openid_config(self) -> dict:
        config = super().openid_config
        configured = self.get_provider().app.settings["server_url"].rstrip("/")
        if configured.endswith("/.well-known/openid-configuration"):
            configured = configured.removesuffix("/.well-known/openid-configuration")
        if str(config.get("issuer", "")).rstrip("/") != configured:
            raise OAuth2Error("The discovery document names another issuer")
        return config

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        claims = jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )
        nonce = str(claims.get("nonce", ""))
        if not self.expected_nonce or not hmac.compare_digest(nonce, self.expected_nonce):
            raise OAuth2Error("The ID token's nonce does not match this sign-in")
        return claims

    def complete_login(self, request: HttpRequest, app: SocialApp, token: Any, **kwargs: Any):
        id_token = kwargs["response"].get("id_token")
        if not id_token:
            raise OAuth2Error("The provider returned no ID token")
        data: dict[str, Any] = {"id_token": self._decode_id_token(app, id_token)}
        if app.settings.get("fetch_userinfo", True):
            userinfo = self._fetch_user_info(token.token)
            if str(userinfo.get("sub")) != str(data["id_token"].get("sub")):
                raise OAuth2Error("The userinfo subject differs from the ID token's")
            data["userinfo"] = userinfo
        return self.get_provider().sociallogin_from_response(request, data)


class StrictOpenIDConnectProvider(OpenIDConnectProvider):
    """Sends a fresh nonce with each authorization request and keeps it in the state."""

    oauth2_adapter_class = StrictOpenIDConnectAdapter

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        kwargs["auth_params"] = {**auth_params, "nonce": nonce}
        return super().redirect(request, process, next_url, data, nonce=nonce, **kwargs)

    def groups(self, extra_data: dict) -> list[str]:
        """The groups claim of a sign-in (userinfo first, then the ID token)."""
        from django.conf import settings

        claim = settings.OIDC_GROUPS_CLAIM
        for source in ("userinfo", "id_token"):
            value = (extra_data.get(source) or {}).get(claim)
            if isinstance(value, str):
                return [value]
            if isinstance(value, list):
                return [str(group) for group in value]
        return []


class StrictCallbackView(OAuth2CallbackView):
    def _get_state(self, request: HttpRequest, provider):
        state, response = super()._get_state(request, provider)
        if state:
            self.adapter.expected_nonce = state.get("nonce")
        return state, response


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = OAuth2LoginView.adapter_view(StrictOpenIDConnectAdapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = StrictCallbackView.adapter_view(StrictOpenIDConnectAdapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


urlpatterns = [
    path("oidc/<str:provider_id>/login/", login, name="openid_connect_login"),
    path("oidc/<str:provider_id>/login/callback/", callback, name="openid_connect_callback"),
]

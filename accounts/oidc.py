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

SSO users have no password, so they re-authenticate (before MFA changes and new API tokens) at
the provider: a new authorization request with `prompt=login` and `max_age=0`, whose ID token
must name the same subject and carry an `auth_time` from after the request was made. That
callback confirms the session in place; it never signs anyone in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.internal.flows.login import record_authentication
from allauth.account.internal.flows.reauthentication import STATE_SESSION_KEY
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from accounts import audit

# Clocks of the portal and the provider may differ by this much (seconds).
AUTH_TIME_LEEWAY = 60
# Key of the authorization request's state that marks a re-authentication.
REAUTHENTICATION_STATE = "reauthenticate"


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
    # allauth mounts `<package>.urls` of every provider under /accounts/; by default the package
    # is this module's ("accounts"), which served every team, audit and token page a second
    # time under /accounts/. Name the stock provider's package, as the class it replaces.
    package = "allauth.socialaccount.providers.openid_connect"

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


# --- Re-authentication at the provider -----------------------------------------------------


def sso_provider(request: HttpRequest) -> StrictOpenIDConnectProvider | None:
    """The configured single sign-on provider, if any."""
    try:
        return get_social_adapter().get_provider(request, settings.OIDC_PROVIDER_ID)
    except SocialApp.DoesNotExist:
        return None


def reauthentication_method(request: HttpRequest | None, user: Any) -> dict | None:
    """allauth's description of "sign in again at the provider", for users who signed up there."""
    if not user.is_authenticated:
        return None
    if not SocialAccount.objects.filter(user=user, provider=settings.OIDC_PROVIDER_ID).exists():
        return None
    provider = sso_provider(request)
    if provider is None:
        return None
    return {
        "id": "reauthenticate_sso",
        "description": f"Sign in again with {provider.name}",
        "url": reverse("sso_reauthenticate"),
    }


def start_reauthentication(request: HttpRequest, next_url: str | None) -> HttpResponse:
    """Send the browser to the provider, which must ask the user to sign in again."""
    provider = sso_provider(request)
    if provider is None:
        raise Http404
    auth_params = {**provider.get_auth_params(), "prompt": "login", "max_age": "0"}
    # REDIRECT: should the callback ever get past `finish_reauthentication`, allauth only
    # redirects; it never signs anyone in for this state.
    return provider.redirect(
        request,
        AuthProcess.REDIRECT,
        next_url=next_url,
        auth_params=auth_params,
        **{REAUTHENTICATION_STATE: {"user": request.user.pk, "started": int(time.time())}},
    )


def finish_reauthentication(request: HttpRequest, sociallogin: SocialLogin) -> HttpResponse:
    """The provider's answer to `start_reauthentication`: confirm the session, or refuse."""
    state = sociallogin.state[REAUTHENTICATION_STATE]
    user = request.user
    if not user.is_authenticated or user.pk != state.get("user"):
        return _refuse(request, sociallogin, "re-authentication for another session")
    if not sociallogin.is_existing or sociallogin.user.pk != user.pk:
        return _refuse(request, sociallogin, "re-authentication by another account")
    auth_time = (sociallogin.account.extra_data.get("id_token") or {}).get("auth_time")
    if not isinstance(auth_time, int | float) or auth_time < state["started"] - AUTH_TIME_LEEWAY:
        return _refuse(request, sociallogin, "re-authentication not fresh")
    record_authentication(
        request,
        user,
        "socialaccount",
        provider=sociallogin.account.provider,
        uid=sociallogin.account.uid,
        reauthenticated=True,
    )
    # A request allauth suspended for this re-authentication is not replayed after the round
    # trip to the provider: the user lands on the page again and submits it.
    request.session.pop(STATE_SESSION_KEY, None)
    next_url = sociallogin.get_redirect_url(request)
    return HttpResponseRedirect(
        next_url or get_account_adapter(request).get_login_redirect_url(request)
    )


def _refuse(request: HttpRequest, sociallogin: SocialLogin, reason: str) -> HttpResponse:
    audit.record(
        "login.failed",
        actor=request.user if request.user.is_authenticated else None,
        details={
            "reason": reason,
            "provider": sociallogin.account.provider,
            "subject": sociallogin.account.uid,
        },
        request=request,
    )
    context = {"reason": reason, "next": sociallogin.get_redirect_url(request) or "/"}
    return render(request, "account/sso_reauthentication_refused.html", context, status=403)


urlpatterns = [
    path("oidc/<str:provider_id>/login/", login, name="openid_connect_login"),
    path("oidc/<str:provider_id>/login/callback/", callback, name="openid_connect_callback"),
]

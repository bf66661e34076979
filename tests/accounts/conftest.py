"""Fixtures of the identity tests: a real OpenID provider, MFA-enrolled users, API tokens."""

from __future__ import annotations

import pytest

from tests.accounts.oidc_provider import OpenIDProvider
from tests.support import clear_app_cache, enrol_totp

CALLBACK = "http://testserver/accounts/oidc/sso/login/callback/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Sign-in counters live in Redis, which outlives each test's database transaction."""
    clear_app_cache()


@pytest.fixture(scope="session")
def openid_provider():
    provider = OpenIDProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def idp(openid_provider, settings, db):
    """The loopback OpenID provider, configured as the portal's single sign-on."""
    provider = openid_provider
    provider.register_client(CALLBACK)
    provider.id_token_overrides = {}
    provider.sign_with_rogue_key = False
    provider.user = {}
    provider.ignores_reauthentication = False
    provider.authorize_requests = []
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            **settings.SOCIALACCOUNT_PROVIDERS["openid_connect"],
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": "Example SSO",
                    "client_id": provider.client_id,
                    "secret": provider.client_secret,
                    "settings": {
                        "server_url": provider.issuer,
                        "scope": ["openid", "profile", "email", "groups"],
                        "oauth_pkce_enabled": True,
                        "token_auth_method": "client_secret_basic",
                    },
                }
            ],
        }
    }
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_GROUP_MAP = {
        "data-readers": ("data-platform", "viewer"),
        "data-engineers": ("data-platform", "operator"),
    }
    return provider


@pytest.fixture
def with_mfa(owner, operator):
    """The team admin and the operator have enrolled an authenticator app, as policy demands."""
    return {"owner": enrol_totp(owner), "operator": enrol_totp(operator)}


def call(client, method: str, path: str, token: str | None = None, json=None):
    """One API request, with a bearer token if given (otherwise the client's session)."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    kwargs = {"content_type": "application/json", "data": json} if json is not None else {}
    return getattr(client, method.lower())(path, **kwargs, **headers)


@pytest.fixture
def make_token(db):
    """make_token(user, teams, scope="read", days=30) -> the secret of a new token."""
    from accounts.services import create_api_token

    def make(user, teams, scope="read", days=30):
        _, secret = create_api_token(
            user, name="test", scope=scope, teams=teams, expires_in_days=days
        )
        return secret

    return make


@pytest.fixture
def unreachable_mail(settings):
    """Django's SMTP backend aimed at a loopback port where no mail server listens."""
    from tests.support import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_TIMEOUT = 5

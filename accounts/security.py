"""Sign-in policy helpers: the MFA requirement and the client address behind trusted proxies."""

from __future__ import annotations

import time
from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied

from accounts.access import OPERATE_ROLES, is_real, roles_of

# When the session's user signed in (Unix seconds): SESSION_ABSOLUTE_TIMEOUT counts from it.
SESSION_STARTED_KEY = "syncportal_auth_started"
# When the session's idle deadline was last pushed back (accounts.middleware).
SESSION_SEEN_KEY = "syncportal_seen"


def mfa_required_for(user: Any) -> bool:
    """Whether the MFA policy applies: operators, team admins and superusers."""
    if not settings.MFA_REQUIRED or not is_real(user):
        return False
    # roles_of: the memberships a page's request reads once for all its checks.
    return user.is_superuser or any(role in OPERATE_ROLES for role in roles_of(user).values())


def mfa_enrolled(user: Any) -> bool:
    """An authenticator that can sign in (recovery codes alone do not count)."""
    return Authenticator.objects.filter(
        user_id=user.pk, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()


def mfa_missing(user: Any) -> bool:
    return mfa_required_for(user) and not mfa_enrolled(user)


def authenticated_recently(request: Any) -> bool:
    """Whether the user proved who they are less than REAUTHENTICATION_TIMEOUT seconds ago.

    allauth keeps each authentication step of the session (password, SSO, second factor,
    re-authentication) with its time, but counts only re-authentications as recent: people
    were asked again seconds after signing in. Here a sign-in counts as well; every step in
    the list was completed successfully, and a session only holds the steps of its own user.
    """
    if request is None or not request.user.is_authenticated:
        return False
    times = [
        record["at"]
        for record in get_authentication_records(request, request.user)
        if isinstance(record.get("at"), int | float)
    ]
    if not times:
        return False
    return time.time() - max(times) < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


def client_ip(request: Any) -> str | None:
    """The client's address: X-Forwarded-For only counts for the TRUSTED_PROXY_COUNT hops
    (the web server passes the peer address on untouched: syncportal.server)."""
    try:
        return get_adapter(request).get_client_ip(request)
    except (ImproperlyConfigured, PermissionDenied):
        return request.META.get("REMOTE_ADDR") or None

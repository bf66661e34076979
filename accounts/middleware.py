"""Session lifetime and the MFA policy, enforced on every page request."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.security import SESSION_STARTED_KEY, mfa_missing

# Reachable without MFA, so that the policy can be met: enrolment, re-authentication, sign-out.
# /api/ enforces the policy itself (JSON answers, token callers have no session).
MFA_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/api/", "/healthz", "/readyz")
MFA_ENROLMENT_URL = "mfa_index"


class SessionLifetimeMiddleware:
    """Ends a session SESSION_ABSOLUTE_TIMEOUT seconds after sign-in, however active it is."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            started = request.session.get(SESSION_STARTED_KEY)
            now = int(time.time())
            if started is None:
                request.session[SESSION_STARTED_KEY] = now
            elif now - int(started) > settings.SESSION_ABSOLUTE_TIMEOUT:
                request.logout_reason = "absolute timeout"
                logout(request)
        return self.get_response(request)


class MfaRequiredMiddleware:
    """Operators, team admins and superusers without MFA are sent to enrol first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(MFA_EXEMPT_PREFIXES)
            and mfa_missing(user)
        ):
            messages.warning(
                request,
                "Your role requires two-factor authentication. Set up an authenticator app "
                "or a security key to continue.",
            )
            return redirect(MFA_ENROLMENT_URL)
        return self.get_response(request)

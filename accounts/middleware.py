"""Session lifetime and the MFA policy, enforced on every page request."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.security import SESSION_SEEN_KEY, SESSION_STARTED_KEY, mfa_missing

# Reachable without MFA, so that the policy can be met: enrolment, re-authentication, sign-out.
# /api/ enforces the policy itself (JSON answers, token callers have no session).
MFA_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/api/", "/healthz", "/readyz")
MFA_ENROLMENT_URL = "mfa_index"


# Pushing it back is a write to the session store; once a minute is enough for a deadline of
# hours, and spares every other page request that write.
SESSION_REFRESH_SECONDS = 60


class SessionLifetimeMiddleware:
    """Ends a session SESSION_ABSOLUTE_TIMEOUT seconds after sign-in, however active it is,
    and pushes its idle deadline back when it is used (at most once a minute)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            session = request.session
            started = session.get(SESSION_STARTED_KEY)
            now = int(time.time())
            if started is None:
                session[SESSION_STARTED_KEY] = now
            elif now - int(started) > settings.SESSION_ABSOLUTE_TIMEOUT:
                request.logout_reason = "absolute timeout"
                logout(request)
                return self.get_response(request)
            if now - int(session.get(SESSION_SEEN_KEY, 0)) >= SESSION_REFRESH_SECONDS:
                session[SESSION_SEEN_KEY] = now  # saved, so the cookie and the row live on
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

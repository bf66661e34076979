"""allauth adapters: closed local sign-up, lockout keyed on the account, SSO provisioning."""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.http import HttpRequest
from django.shortcuts import render

from accounts import audit, oidc, services
from accounts.models import User
from accounts.security import authenticated_recently

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    """Local sign-up stays closed unless the operator opens it: teams provision their people."""

    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "local_login_disabled": "Sign in with single sign-on.",
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return settings.ACCOUNT_ALLOW_SIGNUPS

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # The failed-login counter is keyed on what was typed; count "alice" and her email
        # address as one account so that switching between them gains no extra attempts.
        login = credentials.get("email") or credentials.get("username") or ""
        user = User.objects.filter(email__iexact=login).first() if "@" in login else None
        key = {"username": user.get_username()} if user else {"username": login}
        try:
            super().pre_authenticate(request, **key)
        except ValidationError:
            audit.record(
                "login.failed",
                details={"login": login[:150], "reason": "locked out"},
                request=request,
            )
            raise

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth takes the TRUSTED_PROXY_COUNT-th X-Forwarded-For entry from the right and
        # fails (a 500 at sign-in) when there are fewer: then the request did not come through
        # the proxies, and the peer is the client. The audit trail uses this too.
        try:
            return super().get_client_ip(request)
        except ImproperlyConfigured:
            peer = request.META.get("REMOTE_ADDR")
            if not peer:
                raise PermissionDenied("Unable to determine client IP address") from None
            return peer

    def get_reauthentication_methods(self, user: Any) -> list[dict]:
        # SSO users have no password: they confirm at their provider, the first (default) way.
        # No emailed codes (ACCOUNT_REAUTHENTICATION_METHODS): the provider decides who they are.
        methods = super().get_reauthentication_methods(user)
        sso = oidc.reauthentication_method(allauth_context.request, user)
        return [sso, *methods] if sso else methods

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # A mail server that is down or refuses the message is the operator's problem to fix;
        # the person gets a page that says so instead of a server error.
        try:
            super().send_mail(template_prefix, email, context)
        except (smtplib.SMTPException, OSError) as exc:
            logger.error(
                "could not send %s email: %s",
                template_prefix.rsplit("/", 1)[-1],
                exc.__class__.__name__,
            )
            response = render(allauth_context.request, "account/mail_failed.html", status=503)
            raise ImmediateHttpResponse(response) from exc

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        # allauth asks this before its own check, which ignores sign-ins (see
        # accounts.security.authenticated_recently); allauth's middleware sets the request.
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        return not authenticated_recently(allauth_context.request)

    def authenticate(self, request: HttpRequest, **credentials: Any):
        user = super().authenticate(request, **credentials)
        if user is not None and not settings.LOCAL_LOGIN_ENABLED and not user.is_superuser:
            audit.record(
                "login.failed",
                actor=user,
                details={"reason": "local sign-in disabled"},
                request=request,
            )
            raise self.validation_error("local_login_disabled")
        return user


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """First SSO sign-in provisions the user; accounts are keyed on (provider, subject) only."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        if oidc.REAUTHENTICATION_STATE in sociallogin.state:
            # The answer to a re-authentication: confirms the session, never signs in.
            raise ImmediateHttpResponse(oidc.finish_reauthentication(request, sociallogin))
        if sociallogin.is_existing:
            self._sync_groups(request, sociallogin.user, sociallogin)
            return
        email = sociallogin.user.email
        if email and User.objects.filter(email__iexact=email).exists():
            # Another account already uses this address. It may belong to someone else (a
            # different subject at the provider): never merge or sign in by email.
            audit.record(
                "login.failed",
                details={
                    "reason": "email belongs to another account",
                    "provider": sociallogin.account.provider,
                    "subject": sociallogin.account.uid,
                },
                request=request,
            )
            response = render(request, "account/sso_conflict.html", status=403)
            raise ImmediateHttpResponse(response)

    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None):
        user = super().save_user(request, sociallogin, form)
        audit.record(
            "user.provisioned",
            actor=user,
            target=user,
            details={"provider": sociallogin.account.provider, "subject": sociallogin.account.uid},
            request=request,
        )
        self._sync_groups(request, user, sociallogin)
        return user

    def _sync_groups(self, request: HttpRequest, user: User, sociallogin: Any) -> None:
        provider = sociallogin.account.get_provider()
        groups = provider.groups(sociallogin.account.extra_data or {})
        services.sync_sso_memberships(user, groups, request=request)

"""Audit of sign-in events and MFA changes, from Django's and allauth's signals; and telling
open WebSockets when what their user may watch changes.

Handlers only record; they never store secrets (Django already masks the password in
`user_login_failed`, and we keep only the login name from it).
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.signals import user_logged_in as allauth_user_logged_in
from allauth.mfa.signals import (
    authentication_failed as mfa_authentication_failed,
)
from allauth.mfa.signals import (
    authenticator_added,
    authenticator_removed,
    authenticator_reset,
)
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts import audit
from accounts.models import Membership, User
from accounts.realtime import announce_access_change
from accounts.security import SESSION_SEEN_KEY, SESSION_STARTED_KEY


@receiver(user_logged_in, dispatch_uid="accounts.session_started")
def _session_started(sender, request, user, **kwargs: Any) -> None:
    # Django has already rotated the session key; stamp it for the absolute timeout.
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_STARTED_KEY] = request.session[SESSION_SEEN_KEY] = int(time.time())


@receiver(allauth_user_logged_in, dispatch_uid="accounts.audit_login")
def _login_succeeded(sender, request, user, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    details = {"method": "sso" if sociallogin else "password"}
    if sociallogin is not None:
        details["provider"] = sociallogin.account.provider
    audit.record("login.succeeded", actor=user, target=user, details=details, request=request)


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failed")
def _login_failed(sender, credentials: dict, request=None, **kwargs: Any) -> None:
    login = credentials.get("username") or credentials.get("email") or ""
    audit.record(
        "login.failed",
        details={"login": str(login)[:150], "reason": "bad credentials"},
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="accounts.audit_logout")
def _logged_out(sender, request, user, **kwargs: Any) -> None:
    if user is None:
        return
    reason = getattr(request, "logout_reason", "") if request is not None else ""
    audit.record(
        "logout", actor=user, target=user, details={"reason": reason or "user"}, request=request
    )


@receiver(authenticator_added, dispatch_uid="accounts.audit_mfa_added")
def _mfa_enrolled(sender, request, user, authenticator, **kwargs: Any) -> None:
    if authenticator.type == authenticator.Type.RECOVERY_CODES:
        # allauth adds recovery codes along with a first authenticator: one enrolment, one
        # event. Generating new codes later is `mfa.reset`.
        return
    audit.record(
        "mfa.enrolled",
        actor=user,
        target=user,
        details={"type": authenticator.type},
        request=request,
    )


@receiver(authenticator_removed, dispatch_uid="accounts.audit_mfa_removed")
def _mfa_removed(sender, request, user, authenticator, **kwargs: Any) -> None:
    if authenticator.type == authenticator.Type.RECOVERY_CODES:
        return  # they go with the last authenticator: its removal is the event
    audit.record(
        "mfa.removed",
        actor=user,
        target=user,
        details={"type": authenticator.type},
        request=request,
    )


@receiver(authenticator_reset, dispatch_uid="accounts.audit_mfa_reset")
def _mfa_reset(sender, request, user, authenticator, **kwargs: Any) -> None:
    audit.record(
        "mfa.reset", actor=user, target=user, details={"type": authenticator.type}, request=request
    )


@receiver(mfa_authentication_failed, dispatch_uid="accounts.audit_mfa_failed")
def _mfa_failed(sender, request, user, **kwargs: Any) -> None:
    authenticator = kwargs.get("authenticator")
    audit.record(
        "login.failed",
        actor=user,
        target=user,
        details={"reason": "wrong second factor", "type": getattr(authenticator, "type", "")},
        request=request,
    )


# --- Open WebSockets --------------------------------------------------------------------------
# Accounts and memberships change through the services and through Django's admin alike: the
# model signals catch both. The sockets re-check after the change commits (accounts.realtime).


@receiver(user_logged_out, dispatch_uid="accounts.sockets_signed_out")
def _sockets_signed_out(sender, request, user, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        announce_access_change(user.pk, ended_session=session.session_key)


@receiver(post_save, sender=User, dispatch_uid="accounts.sockets_user_changed")
def _sockets_user_changed(sender, instance: User, created: bool, update_fields=None, **kwargs):
    # Every sign-in saves last_login alone: nothing a socket depends on.
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    announce_access_change(instance.pk)


@receiver(post_save, sender=Membership, dispatch_uid="accounts.sockets_membership_saved")
@receiver(post_delete, sender=Membership, dispatch_uid="accounts.sockets_membership_deleted")
def _sockets_membership_changed(sender, instance: Membership, **kwargs: Any) -> None:
    announce_access_change(instance.user_id)

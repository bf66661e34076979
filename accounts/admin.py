"""People, teams, tokens and the audit trail in the admin site (see syncportal.admin).

Teams, memberships, tokens and the trail are read-only here: teams are created and members
managed on `/teams/`, where the last-admin rule and the audit trail apply. People are the
exception (the portal has no page for them): their admin form saves through the services.
"""

from __future__ import annotations

import contextvars
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group

from accounts import services
from accounts.models import ApiToken, AuditEvent, Membership, Team, User
from syncportal.admin import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    ServiceErrorsAsMessages,
    portal_link,
    portal_page,
)

# The request of the password form being saved: Django's view builds the form without it.
_password_request: contextvars.ContextVar[Any] = contextvars.ContextVar("password_request")


class PasswordForm(AdminPasswordChangeForm):
    def save(self, commit: bool = True) -> User:
        request = _password_request.get()
        usable = self.cleaned_data.get("set_usable_password", True)
        password = self.cleaned_data["password1"] if usable else None
        return services.set_password(self.user, password, actor=request.user, request=request)


@admin.register(User)
class UserAdmin(ServiceErrorsAsMessages, DjangoUserAdmin):
    """Each change goes through the service that owns it, with its audit event and side
    effects (a deactivated user's sockets close); no deletion: deactivate instead, the trail
    keeps naming them."""

    # Django's groups and permissions grant nothing in the portal: roles are memberships.
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "is_auditor")}),
        ("Memberships", {"fields": ("teams",)}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("teams", "last_login", "date_joined")
    change_password_form = PasswordForm
    list_display = ("username", "email", "is_active", "is_staff", "is_superuser", "is_auditor")
    list_filter = ("is_active", "is_staff", "is_superuser", "is_auditor")
    filter_horizontal = ()

    @admin.display(description="teams")
    def teams(self, user: User) -> str:
        memberships = user.memberships.select_related("team")
        links = [
            portal_link(m.team.get_absolute_url(), f"{m.team} ({m.get_role_display()})")
            for m in memberships
        ]
        return ", ".join(links) or "-"

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        who = {"actor": request.user, "request": request}
        if not change:
            data = form.cleaned_data
            usable = data.get("set_usable_password", True)
            created = services.create_user(
                data["username"], password=data["password1"] if usable else None, **who
            )
            # The admin goes on with the instance it built (log entry, redirect).
            obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db
            return
        changes = {
            field: form.cleaned_data[field]
            for field in form.changed_data
            if field in services.USER_FIELDS
        }
        if changes:
            services.update_user(obj, **changes, **who)
        if "is_active" in form.changed_data:
            if form.cleaned_data["is_active"]:
                services.reactivate_user(obj, **who)
            else:
                services.deactivate_user(obj, **who)

    def user_change_password(self, request, id, form_url=""):
        token = _password_request.set(request)
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            _password_request.reset(token)


class MembershipInline(ReadOnlyInline):
    model = Membership
    fields = ("user", "role", "source", "created_at")
    readonly_fields = fields


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    """Teams are created, and their members managed, on `/teams/` (superusers see all)."""

    list_display = ("name", "slug", "created_at", portal_page)
    search_fields = ("name", "slug")
    fields = ("name", "slug", "created_at", portal_page)
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Roles change on the team's page, where the last admin cannot be removed or demoted."""

    list_display = ("user", "team", "role", "source", "created_at", "team_page")
    list_filter = ("role", "source", "team")
    list_select_related = ("user", "team")
    search_fields = ("user__username", "team__name")
    fields = ("user", "team", "role", "source", "created_at", "team_page")

    @admin.display(description="portal page")
    def team_page(self, membership: Membership) -> str:
        return portal_link(membership.team.get_absolute_url(), "Manage on the team's page")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Only the SHA-256 of a token is stored, and not even that is shown."""

    list_display = ("name", "prefix", "user", "scope", "created_at", "expires_at", "state")
    list_filter = ("scope",)
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username")
    fields = (
        "name",
        "prefix",
        "user",
        "scope",
        "teams",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        for token in queryset.select_related("user"):
            services.revoke_api_token(token, actor=request.user, request=request)
        self.message_user(request, f"Revoked {len(queryset)} token(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the trail is append-only, even for superusers."""

    list_display = ("created_at", "actor_label", "action", "target_type", "target_label", "team")
    list_filter = ("action",)
    search_fields = ("actor_label", "target_label", "request_id")


# --- Django's groups and allauth's models ------------------------------------------------------

# Groups and permissions are not how the portal grants access (memberships are).
admin.site.unregister(Group)
# Single sign-on is configured by environment variables (OIDC_*): a provider added here would
# be a second way in; tokens from the provider are not stored (SOCIALACCOUNT_STORE_TOKENS).
admin.site.unregister(SocialApp)
admin.site.unregister(SocialToken)
admin.site.unregister(EmailAddress)
admin.site.unregister(SocialAccount)
admin.site.unregister(Authenticator)


@admin.register(EmailAddress)
class EmailAddressAdmin(ReadOnlyAdmin):
    """Addresses sign people in: they change on the user's own account pages, not here."""

    list_display = ("email", "user", "primary", "verified")
    list_filter = ("primary", "verified")
    list_select_related = ("user",)
    search_fields = ("email", "user__username")


@admin.register(SocialAccount)
class SocialAccountAdmin(ReadOnlyAdmin):
    """Which provider subject a user signs in as; removing the link would orphan the account."""

    list_display = ("user", "provider", "uid", "last_login")
    list_filter = ("provider",)
    list_select_related = ("user",)
    search_fields = ("uid", "user__username")
    fields = ("user", "provider", "uid", "last_login", "date_joined")


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyAdmin):
    """Second factors, without their secrets. Deleting one (a lost phone) is audited."""

    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type",)
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("user", "type", "created_at", "last_used_at")

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def delete_model(self, request, obj):
        services.remove_authenticator(obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for authenticator in queryset.select_related("user"):
            # Recovery codes go with a user's last factor: they may be gone by now.
            if Authenticator.objects.filter(pk=authenticator.pk).exists():
                services.remove_authenticator(authenticator, actor=request.user, request=request)

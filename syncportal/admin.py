"""Building blocks of the admin site: it inspects the portal and changes it only through services.

Rows that a service owns (endpoints, profiles, jobs, memberships, tokens, the audit trail, the
beat entries of profile schedules) are read-only here, deletion included: a change made behind
the services' back would skip their validation (an endpoint of another team), their rules (the
last admin of a team) and their audit event. The few writes the admin keeps call the services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html

from syncportal.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Inspect here; change on the portal's pages, the API or a management command."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def portal_link(url: str, label: str = "Open in the portal") -> str:
    return format_html('<a href="{}">{}</a>', url, label)


@admin.display(description="portal page")
def portal_page(obj: Any) -> str:
    """A link to the object's page in the portal, where it is changed."""
    return portal_link(obj.get_absolute_url())


class ServiceErrorsAsMessages(admin.ModelAdmin):
    """A service that refuses a write (last superuser, ...) rolls the whole admin save back.

    The admin saves inside one transaction; the service's refusal leaves it, undoing the save
    and the admin's own log entry, and the page comes back with the service's message.
    """

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(request.get_full_path())

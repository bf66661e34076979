"""What every transfer page does the same way: know which teams the caller may act in, and
turn a service's errors into form errors or messages. Pages find their objects with
`accounts.access.object_for` (404 outside the caller's teams, 403 for a role that may not act)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.access import ADMIN_ROLES, OPERATE_ROLES, teams_where
from accounts.models import Team
from syncportal.errors import DomainError


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


class TeamRights:
    """The ids of the teams in which the caller may operate or administer, for templates to
    decide which buttons to show (`{% if job.team_id in can.operate %}`). The server checks
    again on every POST."""

    def __init__(self, user: Any):
        self.user = user

    @cached_property
    def operate(self) -> frozenset[int]:
        found = teams_where(self.user, OPERATE_ROLES)  # the request's memberships, read once
        if found is None:  # a superuser: every team
            found = frozenset(Team.objects.operable_by(self.user).values_list("pk", flat=True))
        return found

    @cached_property
    def administer(self) -> frozenset[int]:
        found = teams_where(self.user, ADMIN_ROLES)
        if found is None:
            found = frozenset(Team.objects.administrable_by(self.user).values_list("pk", flat=True))
        return found


def add_service_errors(form: Form, exc: ValidationError) -> None:
    """A service's per-field messages onto the form's fields; others above the form, named."""
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for field, errors in exc.message_dict.items():
        for message in errors:
            if field in form.fields and not form[field].is_hidden:
                form.add_error(field, message)
            else:
                label = field.replace("_", " ").capitalize()
                form.add_error(None, f"{label}: {message}")


def submit(form: Form, call: Callable[[], Any]) -> Any | None:
    """Run a service call for a valid form; its errors land on the form and None is returned."""
    try:
        return call()
    except ValidationError as exc:
        add_service_errors(form, exc)
    except DomainError as exc:
        form.add_error(None, exc.message)
    return None


def save_changes(request: HttpRequest, form: Form, obj: Any, update: Callable, what: str) -> Any:
    """An edit form's changed fields through the `update` service; the saved object (after
    telling the user), or None with the service's errors on the form."""
    changes = {name: form.cleaned_data[name] for name in form.changed_data}
    updated = submit(form, lambda: update(obj, actor=request.user, request=request, **changes))
    if updated is not None:
        messages.success(request, f"{what} {updated} saved.")
    return updated


def act(
    request: HttpRequest,
    call: Callable[[], Any],
    *,
    done: Callable[[Any], tuple[str, str]],
    fallback: str,
) -> HttpResponse:
    """A button's POST: run the service; on success `done(result)` gives the message and the
    URL to go to, on a refusal the reason is shown back at `fallback`."""
    try:
        result = call()
    except (DomainError, ValidationError) as exc:
        text = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        messages.error(request, text)
        return redirect(fallback)
    text, url = done(result)
    messages.success(request, text)
    return redirect(url)

"""Endpoints: team admins create, edit, rotate and delete them; operators test them; every
member sees them (never their secrets)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import ADMINISTER, OPERATE, VIEW, object_for
from accounts.models import Team
from transfers import services
from transfers.forms import EndpointForm, EndpointTestForm, RotateSecretForm
from transfers.models import Endpoint, SyncProfile
from transfers.views._common import (
    TeamRights,
    act,
    is_htmx,
    save_changes,
    submit,
)


def _with_profile_count(endpoints):
    """How many profiles of its team use each endpoint, on either side (one query)."""
    uses = Q(team__profiles__source_endpoint=F("pk")) | Q(
        team__profiles__destination_endpoint=F("pk")
    )
    return endpoints.annotate(profile_count=Count("team__profiles", filter=uses, distinct=True))


@login_required
def endpoint_list(request: HttpRequest) -> HttpResponse:
    endpoints = _with_profile_count(
        Endpoint.objects.visible_to(request.user).select_related("team")
    )
    return render(
        request,
        "transfers/endpoint_list.html",
        {"endpoints": endpoints, "can": TeamRights(request.user)},
    )


@login_required
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = object_for(request.user, Endpoint.objects.select_related("team"), VIEW, pk=pk)
    return _detail(request, endpoint)


def _detail(request, endpoint, *, status=200, **forms) -> HttpResponse:
    can = TeamRights(request.user)
    profiles = SyncProfile.objects.filter(
        Q(source_endpoint=endpoint) | Q(destination_endpoint=endpoint)
    ).order_by("name")
    context = {
        "endpoint": endpoint,
        "profiles": profiles,
        "can": can,
        "test_form": forms.get("test_form") or EndpointTestForm(),
        "check": forms.get("check"),
        "rotate_form": forms.get("rotate_form")
        or (RotateSecretForm() if endpoint.team_id in can.administer else None),
    }
    return render(request, "transfers/endpoint_detail.html", context, status=status)


@login_required
def endpoint_create(request: HttpRequest) -> HttpResponse:
    teams = Team.objects.administrable_by(request.user)
    if not teams.exists():
        raise PermissionDenied("Only team admins add endpoints, and you administer no team.")
    form = EndpointForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        team = data.pop("team")
        endpoint = submit(
            form,
            lambda: services.create_endpoint(team, actor=request.user, request=request, **data),
        )
        if endpoint is not None:
            messages.success(request, f"Endpoint {endpoint} added. Test its connection below.")
            return redirect(endpoint)
    status = 422 if form.errors else 200
    return render(
        request, "transfers/endpoint_form.html", {"form": form, "teams": teams}, status=status
    )


@login_required
def endpoint_edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = object_for(request.user, Endpoint.objects.select_related("team"), ADMINISTER, pk=pk)
    initial = {name: getattr(endpoint, name) for name in services.endpoints.EDITABLE}
    form = EndpointForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        updated = save_changes(request, form, endpoint, services.update_endpoint, "Endpoint")
        if updated is not None:
            return redirect(updated)
    status = 422 if form.errors else 200
    context = {"form": form, "endpoint": endpoint}
    return render(request, "transfers/endpoint_form.html", context, status=status)


@login_required
@require_POST
def endpoint_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = object_for(request.user, Endpoint.objects.select_related("team"), ADMINISTER, pk=pk)
    form = RotateSecretForm(request.POST)
    if form.is_valid():
        key_id = form.cleaned_data["access_key_id"].strip() or None
        rotated = submit(
            form,
            lambda: services.rotate_endpoint_secret(
                endpoint,
                actor=request.user,
                request=request,
                secret_access_key=form.cleaned_data["secret_access_key"],
                access_key_id=key_id,
            ),
        )
        if rotated is not None:
            messages.success(request, f"New credentials saved for {endpoint}. Jobs use them next.")
            return redirect(endpoint)
    endpoint.refresh_from_db()  # the service may have set a rejected key id on it
    return _detail(request, endpoint, rotate_form=form, status=422)


@login_required
@require_POST
def endpoint_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Reach the endpoint with its credentials now; htmx swaps in the result, a plain POST
    renders the whole page with it."""
    endpoint = object_for(request.user, Endpoint.objects.select_related("team"), OPERATE, pk=pk)
    form = EndpointTestForm(request.POST)
    check = None
    if form.is_valid():
        bucket = form.cleaned_data["bucket"].strip()
        check = submit(form, lambda: services.test_endpoint(endpoint, bucket=bucket))
    if is_htmx(request):
        context = {"check": check, "test_form": form, "endpoint": endpoint}
        return render(request, "transfers/_endpoint_check.html", context)
    return _detail(request, endpoint, test_form=form, check=check)


@login_required
@require_POST
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = object_for(request.user, Endpoint.objects.select_related("team"), ADMINISTER, pk=pk)
    return act(
        request,
        lambda: services.delete_endpoint(endpoint, actor=request.user, request=request),
        done=lambda _: (f"Endpoint {endpoint} deleted.", reverse("endpoint_list")),
        fallback=endpoint.get_absolute_url(),
    )

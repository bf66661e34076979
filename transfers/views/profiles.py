"""Sync profiles: every member reads them; operators and team admins create, edit, preview,
run and delete them, and approve a mirror's deletes."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.models import Team
from syncportal.errors import DomainError
from transfers import services
from transfers.forms import ProfileForm
from transfers.models import Endpoint, Job, SyncProfile
from transfers.views._common import (
    OPERATE,
    TeamRights,
    act,
    is_htmx,
    object_to_change,
    save_changes,
    submit,
    visible_object,
)

RECENT_JOBS = 10


def with_last_job(profiles):
    """Each profile with its latest job's id, state and time, and its active job's id."""
    latest = Job.objects.filter(profile=OuterRef("pk")).order_by("-created_at", "-id")
    active = Job.objects.active().filter(profile=OuterRef("pk"))
    return profiles.annotate(
        last_job_id=Subquery(latest.values("id")[:1]),
        last_state=Subquery(latest.values("state")[:1]),
        last_run_at=Subquery(latest.values("created_at")[:1]),
        active_job_id=Subquery(active.values("id")[:1]),
    )


@login_required
def profile_list(request: HttpRequest) -> HttpResponse:
    profiles = with_last_job(
        SyncProfile.objects.visible_to(request.user).select_related(
            "team", "source_endpoint", "destination_endpoint"
        )
    )
    labels = dict(Job.State.choices)
    return render(
        request,
        "transfers/profile_list.html",
        {"profiles": profiles, "can": TeamRights(request.user), "state_labels": labels},
    )


@login_required
def profile_detail(request: HttpRequest, pk: int) -> HttpResponse:
    profile = visible_object(
        request,
        SyncProfile.objects.select_related("team", "source_endpoint", "destination_endpoint"),
        pk=pk,
    )
    return _detail(request, profile)


def _detail(request, profile, *, preview=None, preview_error="", status=200) -> HttpResponse:
    jobs = profile.jobs.select_related("triggered_by").order_by("-created_at", "-id")
    recent = list(jobs[:RECENT_JOBS])
    active = next((job for job in recent if job.is_active), None) or jobs.active().first()
    context = {
        "profile": profile,
        "jobs": recent,
        "active_job": active,
        "can": TeamRights(request.user),
        "preview": preview,
        "preview_error": preview_error,
    }
    return render(request, "transfers/profile_detail.html", context, status=status)


def _choices(request):
    teams = Team.objects.operable_by(request.user)
    endpoints = Endpoint.objects.filter(team__in=teams).select_related("team")
    return teams, endpoints


@login_required
def profile_create(request: HttpRequest) -> HttpResponse:
    teams, endpoints = _choices(request)
    if not teams.exists():
        raise PermissionDenied("Only operators and team admins create profiles.")
    form = ProfileForm(request.POST or None, teams=teams, endpoints=endpoints)
    if request.method == "POST" and form.is_valid():
        team = form.cleaned_data["team"]
        profile = submit(
            form,
            lambda: services.create_profile(
                team, actor=request.user, request=request, **form.service_fields()
            ),
        )
        if profile is not None:
            messages.success(request, f"Profile {profile} created. Preview it, then run it.")
            return redirect(profile)
    return _form(request, form, has_endpoints=endpoints.exists())


@login_required
def profile_edit(request: HttpRequest, pk: int) -> HttpResponse:
    profile = object_to_change(request, SyncProfile.objects.select_related("team"), OPERATE, pk=pk)
    endpoints = Endpoint.objects.filter(team=profile.team_id).select_related("team")
    form = ProfileForm(
        request.POST or None, initial=ProfileForm.initial_for(profile), endpoints=endpoints
    )
    if request.method == "POST" and form.is_valid():
        updated = save_changes(request, form, profile, services.update_profile, "Profile")
        if updated is not None:
            return redirect(updated)
    return _form(request, form, profile=profile, has_endpoints=True)


def _form(request, form, **context) -> HttpResponse:
    status = 422 if form.errors else 200
    return render(request, "transfers/profile_form.html", {"form": form, **context}, status=status)


@login_required
@require_POST
def profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    profile = object_to_change(request, SyncProfile.objects.select_related("team"), OPERATE, pk=pk)
    return act(
        request,
        lambda: services.delete_profile(profile, actor=request.user, request=request),
        done=lambda _: (
            f"Profile {profile} deleted; its jobs stay in the history.",
            reverse("profile_list"),
        ),
        fallback=profile.get_absolute_url(),
    )


@login_required
@require_POST
def profile_run(request: HttpRequest, pk: int) -> HttpResponse:
    profile = object_to_change(request, SyncProfile.objects.select_related("team"), OPERATE, pk=pk)
    return act(
        request,
        lambda: services.start_job(profile, actor=request.user, request=request),
        done=lambda job: (f"Job #{job.pk} of {profile} queued.", job.get_absolute_url()),
        # The list's buttons come back to the list when the run is refused (e.g. busy).
        fallback=reverse("profile_list")
        if request.POST.get("from") == "list"
        else profile.get_absolute_url(),
    )


@login_required
@require_POST
def profile_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """List both sides now and show what a run would copy and delete; moves nothing."""
    profile = object_to_change(
        request,
        SyncProfile.objects.select_related("team", "source_endpoint", "destination_endpoint"),
        OPERATE,
        pk=pk,
    )
    preview, error = None, ""
    try:
        preview = services.preview_profile(profile)
    except DomainError as exc:
        error = exc.message
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if is_htmx(request):
        context = {"profile": profile, "preview": preview, "preview_error": error}
        return render(request, "transfers/_preview.html", context)
    return _detail(request, profile, preview=preview, preview_error=error)

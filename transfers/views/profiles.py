"""Sync profiles: every member reads them; operators and team admins create, edit, preview,
run and delete them, and approve a mirror's deletes."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import OPERATE, VIEW, object_for
from accounts.models import Team
from syncportal.errors import DomainError
from transfers import services
from transfers.cron import schedule_preview
from transfers.forms import NotificationForm, ProfileForm
from transfers.models import Endpoint, Job, Preview, SyncProfile
from transfers.views._common import (
    TeamRights,
    act,
    is_htmx,
    save_changes,
    submit,
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
    # Freshness, schedules in words and next runs come from the annotations and Python: no
    # query per row.
    profiles = with_last_job(
        SyncProfile.objects.visible_to(request.user)
        .with_last_success()
        .select_related("team", "source_endpoint", "destination_endpoint")
    )
    labels = dict(Job.State.choices)
    return render(
        request,
        "transfers/profile_list.html",
        {"profiles": profiles, "can": TeamRights(request.user), "state_labels": labels},
    )


# What the profile page shows: with the start of its last success, for the freshness badge.
SHOWN = SyncProfile.objects.with_last_success().select_related(
    "team", "source_endpoint", "destination_endpoint"
)


@login_required
def profile_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_profile(request, object_for(request.user, SHOWN, VIEW, pk=pk))


def render_profile(
    request, profile, *, notification_form=None, status=200, **extra
) -> HttpResponse:
    """The profile page, with its latest preview. `notification_form`: the add form of a
    refused POST, with its errors, in place of a blank one."""
    jobs = profile.jobs.select_related("team", "triggered_by").order_by("-created_at", "-id")
    recent = list(jobs[:RECENT_JOBS])
    active = next((job for job in recent if job.is_active), None) or jobs.active().first()
    can = TeamRights(request.user)
    prefetch_related_objects([profile], "notifications")
    if notification_form is None and profile.team_id in can.operate:
        notification_form = NotificationForm()
    context = {
        "profile": profile,
        "jobs": recent,
        "active_job": active,
        "can": can,
        "notification_form": notification_form,
        "preview": latest_preview(profile),
        "shards_automatic": settings.TRANSFER_SHARDS_PER_JOB,
        **extra,
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
    profile = object_for(request.user, SyncProfile.objects.select_related("team"), OPERATE, pk=pk)
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
    context["schedule"] = schedule_preview(form["schedule"].value() or "")
    return render(request, "transfers/profile_form.html", {"form": form, **context}, status=status)


@login_required
def profile_schedule(request: HttpRequest) -> HttpResponse:
    """The form's schedule in words with its next runs (or what is wrong with it), as the user
    types; htmx swaps it in under the field. It reads nothing but the expression."""
    text = request.GET.get("schedule", "")[:100]
    return render(request, "transfers/_schedule_preview.html", {"schedule": schedule_preview(text)})


@login_required
@require_POST
def profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    profile = object_for(request.user, SyncProfile.objects.select_related("team"), OPERATE, pk=pk)
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
    profile = object_for(request.user, SyncProfile.objects.select_related("team"), OPERATE, pk=pk)
    return act(
        request,
        lambda: services.start_job(profile, actor=request.user, request=request),
        done=lambda job: (_queued(job, profile), job.get_absolute_url()),
        # The list's buttons come back to the list when the run is refused (e.g. busy).
        fallback=reverse("profile_list")
        if request.POST.get("from") == "list"
        else profile.get_absolute_url(),
    )


def _queued(job, profile: SyncProfile) -> str:
    if getattr(job, "dispatched", True):
        return f"Job #{job.pk} of {profile} queued."
    return (
        f"Job #{job.pk} of {profile} queued. The job queue is unavailable right now: the job "
        "starts by itself once it is back."
    )


@login_required
@require_POST
def profile_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a preview: a worker lists both sides and plans; the page follows its progress."""
    profile = object_for(request.user, SHOWN, OPERATE, pk=pk)
    try:
        preview = services.start_preview(profile, actor=request.user, request=request)
    except DomainError as exc:
        return _preview_answer(request, profile, latest_preview(profile), preview_error=exc.message)
    return _preview_answer(request, profile, preview)


# A preview with what its fragment shows.
PREVIEWS = Preview.objects.fresh().select_related("profile", "requested_by")


@login_required
def preview_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview's fragment, for the profile page to swap in (htmx) once it ends."""
    preview = object_for(request.user, PREVIEWS, VIEW, pk=pk)
    return _preview_answer(request, preview.profile, preview)


@login_required
@require_POST
def preview_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    preview = object_for(request.user, PREVIEWS, OPERATE, pk=pk)
    try:
        preview = services.cancel_preview(preview, actor=request.user, request=request)
    except DomainError as exc:
        return _preview_answer(request, preview.profile, preview, preview_error=exc.message)
    return _preview_answer(request, preview.profile, preview)


def latest_preview(profile: SyncProfile) -> Preview | None:
    """The profile's newest preview while its result is kept."""
    return PREVIEWS.filter(profile=profile).order_by("-created_at", "-id").first()


def _preview_answer(request, profile, preview, *, preview_error: str = "") -> HttpResponse:
    if not is_htmx(request):
        if preview_error:
            messages.error(request, preview_error)
        return redirect(profile.get_absolute_url() + "#preview")
    context = {
        "profile": profile,
        "preview": preview,
        "preview_error": preview_error,
        "can": TeamRights(request.user),
    }
    return render(request, "transfers/_preview.html", context)

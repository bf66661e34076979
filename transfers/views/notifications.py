"""A profile's notifications: operators and team admins add, switch and remove email and
webhook targets on the profile page; every member reads them and the delivery log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import OPERATE, VIEW, object_for
from syncportal.pagination import browse_page
from transfers import services
from transfers.forms import NotificationForm
from transfers.models import Delivery, Notification, SyncProfile
from transfers.views._common import act, submit
from transfers.views.profiles import SHOWN, render_profile

PAGE_SIZE = 50


def _section(profile: SyncProfile) -> str:
    return f"{profile.get_absolute_url()}#notifications"


@login_required
@require_POST
def notification_add(request: HttpRequest, pk: int) -> HttpResponse:
    profile = object_for(request.user, SHOWN, OPERATE, pk=pk)
    form = NotificationForm(request.POST)
    if form.is_valid():
        notification = submit(
            form,
            lambda: services.add_notification(
                profile, actor=request.user, request=request, **form.service_fields()
            ),
        )
        if notification is not None and notification.channel == Notification.Channel.WEBHOOK:
            # Rendered, not redirected: the secret must not pass through the session, and no
            # cache may keep the page.
            secret = notification.secret.reveal()
            context = {"profile": profile, "notification": notification, "secret": secret}
            response = render(request, "transfers/notification_created.html", context)
            response["Cache-Control"] = "no-store"
            return response
        if notification is not None:
            messages.success(request, f"{notification.target_display} will be told.")
            return redirect(_section(profile))
    return render_profile(request, profile, notification_form=form, status=422)


@login_required
@require_POST
def notification_enabled(request: HttpRequest, pk: int) -> HttpResponse:
    """Switch a notification on (`enabled=on`) or off (anything else); it keeps its settings."""
    notification = object_for(
        request.user, Notification.objects.select_related("profile__team"), OPERATE, pk=pk
    )
    enabled = request.POST.get("enabled") == "on"
    return act(
        request,
        lambda: services.update_notification(
            notification, actor=request.user, request=request, enabled=enabled
        ),
        done=lambda changed: (
            f"Notifications to {changed.target_display} {'resumed' if enabled else 'paused'}.",
            _section(changed.profile),
        ),
        fallback=_section(notification.profile),
    )


@login_required
@require_POST
def notification_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a notification, and its delivery log with it."""
    notification = object_for(
        request.user, Notification.objects.select_related("profile__team"), OPERATE, pk=pk
    )
    profile = notification.profile
    return act(
        request,
        lambda: services.delete_notification(notification, actor=request.user, request=request),
        done=lambda _: (
            f"{notification.target_display} is no longer told about {profile}.",
            _section(profile),
        ),
        fallback=_section(profile),
    )


@login_required
def profile_deliveries(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything sent for the profile's notifications, newest first."""
    profile = object_for(request.user, SyncProfile.objects.select_related("team"), VIEW, pk=pk)
    deliveries = Delivery.objects.filter(notification__profile=profile).select_related(
        "notification"
    )
    page = browse_page(deliveries, request.GET, size=PAGE_SIZE)
    context = {"profile": profile, "page": page, "deliveries": page.object_list}
    return render(request, "transfers/profile_deliveries.html", context)

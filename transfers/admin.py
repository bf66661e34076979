from django.contrib import admin, messages
from django_celery_beat.admin import CrontabScheduleAdmin, PeriodicTaskAdmin
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from syncportal.admin import ReadOnlyAdmin, portal_page
from transfers import services
from transfers.errors import Conflict
from transfers.models import (
    Delivery,
    Endpoint,
    Job,
    JobFailure,
    JobSample,
    Notification,
    SkippedRun,
    SyncProfile,
)


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdmin):
    # The secret is not a field here at all: not even its ciphertext reaches the page.
    fields = (
        "team",
        "name",
        "url",
        "region",
        "addressing_style",
        "verify_tls",
        "access_key_id",
        "created_at",
        "updated_at",
        portal_page,
    )
    list_display = ("name", "team", "display_url", "region", "access_key_id", portal_page)
    list_filter = ("team",)
    search_fields = ("name", "url")
    list_select_related = ("team",)


def _each(modeladmin, request, queryset, act) -> None:
    """Apply a service to each selected object the user may operate; report each outcome."""
    for obj in queryset.operable_by(request.user):
        try:
            modeladmin.message_user(request, act(obj))
        except Conflict as exc:
            modeladmin.message_user(request, str(exc), level=messages.WARNING)


@admin.register(SyncProfile)
class SyncProfileAdmin(ReadOnlyAdmin):
    """Changes go through the profile services, which keep a profile to its team's endpoints."""

    list_display = (
        "name",
        "team",
        "mode",
        "source_display",
        "destination_display",
        "schedule",
        "schedule_enabled",
        "max_staleness_minutes",
        portal_page,
    )
    readonly_fields = (portal_page,)
    list_filter = ("team", "mode", "schedule_enabled")
    search_fields = ("name",)
    list_select_related = ("team", "source_endpoint", "destination_endpoint")
    actions = ["run_now"]

    @admin.action(description="Run the selected profiles now")
    def run_now(self, request, queryset):
        def start(profile):
            job = services.start_job(profile, actor=request.user, request=request)
            return f"Started job #{job.pk} of {profile}."

        _each(self, request, queryset, start)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Saving a job here would write back counters the worker is updating: actions only."""

    list_display = (
        "id",
        "profile_name",
        "team",
        "state",
        "trigger",
        "created_at",
        "finished_at",
        portal_page,
    )
    list_filter = ("state", "trigger", "team")
    search_fields = ("profile_name",)
    list_select_related = ("team",)
    readonly_fields = (portal_page,)
    actions = ["cancel", "approve", "retry_failed"]

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset):
        def cancel(job):
            job = services.cancel_job(job, actor=request.user, request=request)
            return f"Job #{job.pk}: {'cancelled' if job.state == 'cancelled' else 'stopping'}."

        _each(self, request, queryset, cancel)

    @admin.action(description="Approve the deletes of the selected (paused) mirrors")
    def approve(self, request, queryset):
        def approve(job):
            services.approve_job(job, actor=request.user, request=request)
            return f"Job #{job.pk} approved and queued."

        _each(self, request, queryset, approve)

    @admin.action(description="Retry the failed objects of the selected jobs")
    def retry_failed(self, request, queryset):
        def retry(job):
            new = services.retry_job(job, actor=request.user, request=request)
            return f"Started job #{new.pk}, a retry of #{job.pk}."

        _each(self, request, queryset, retry)


@admin.register(JobFailure)
class JobFailureAdmin(ReadOnlyAdmin):
    list_display = ("job", "operation", "key", "error")
    list_filter = ("operation",)
    search_fields = ("key",)
    list_select_related = ("job",)
    raw_id_fields = ("job",)


@admin.register(JobSample)
class JobSampleAdmin(ReadOnlyAdmin):
    list_display = ("job", "t", "objects_done", "bytes_done")
    list_select_related = ("job",)
    raw_id_fields = ("job",)


@admin.register(SkippedRun)
class SkippedRunAdmin(ReadOnlyAdmin):
    list_display = ("at", "profile", "team", "blocking_job", "reason")
    list_filter = ("team",)
    list_select_related = ("profile", "team")
    raw_id_fields = ("profile", "blocking_job")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("profile", "channel", "target_display", "events", "enabled", "updated_at")
    list_filter = ("channel", "enabled")
    list_select_related = ("profile",)
    exclude = ("secret", "target")  # the secret is write-only; URLs may carry tokens
    readonly_fields = ("target_display",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "event",
        "notification",
        "state",
        "attempts",
        "status_code",
        "last_error",
    )
    list_filter = ("state", "event", "notification__channel")
    list_select_related = ("notification",)
    raw_id_fields = ("notification", "job")


# --- Beat entries: those of profile schedules follow the profile, and only the profile -----------


def _scheduled_profiles():
    # Without NULLs: `pk NOT IN (..., NULL)` would match no row at all.
    return SyncProfile.objects.filter(periodic_task__isnull=False)


def _profile_of(task: PeriodicTask) -> SyncProfile | None:
    return SyncProfile.objects.filter(periodic_task=task).first()


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class ScheduleAwarePeriodicTaskAdmin(PeriodicTaskAdmin):
    """The entry of a profile's schedule is changed by changing the profile (its services keep
    the two in step); other entries stay editable here."""

    readonly_fields = (*PeriodicTaskAdmin.readonly_fields, "profile_page")

    @admin.display(description="profile")
    def profile_page(self, task: PeriodicTask) -> str:
        profile = _profile_of(task)
        if profile is None:
            return "-"
        return portal_page(profile)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        name, options = fieldsets[0]
        return ((name, {**options, "fields": (*options["fields"], "profile_page")}), *fieldsets[1:])

    def has_change_permission(self, request, obj=None):
        owned = obj is not None and _profile_of(obj) is not None
        return not owned and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        owned = obj is not None and _profile_of(obj) is not None
        return not owned and super().has_delete_permission(request, obj)

    def _not_owned(self, request, queryset):
        owned = queryset.filter(pk__in=_scheduled_profiles().values("periodic_task"))
        if owned.exists():
            self.message_user(
                request,
                "Entries of profile schedules were left as they are: change the profile.",
                level=messages.WARNING,
            )
        return queryset.exclude(pk__in=owned.values("pk"))

    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, self._not_owned(request, queryset))

    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, self._not_owned(request, queryset))

    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, self._not_owned(request, queryset))

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, self._not_owned(request, queryset))

    enable_tasks.short_description = PeriodicTaskAdmin.enable_tasks.short_description
    disable_tasks.short_description = PeriodicTaskAdmin.disable_tasks.short_description
    toggle_tasks.short_description = PeriodicTaskAdmin.toggle_tasks.short_description


admin.site.unregister(CrontabSchedule)


@admin.register(CrontabSchedule)
class ScheduleAwareCrontabScheduleAdmin(CrontabScheduleAdmin):
    """A crontab that a profile's entry uses is that profile's schedule (deleting it would
    delete the entry too)."""

    @staticmethod
    def _used_by_profiles(crontab) -> bool:
        return SyncProfile.objects.filter(periodic_task__crontab=crontab).exists()

    def has_change_permission(self, request, obj=None):
        owned = obj is not None and self._used_by_profiles(obj)
        return not owned and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        owned = obj is not None and self._used_by_profiles(obj)
        return not owned and super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        used = _scheduled_profiles().values("periodic_task__crontab")
        if queryset.filter(pk__in=used).exists():
            self.message_user(
                request,
                "Schedules that profiles use were kept: change the profiles.",
                level=messages.WARNING,
            )
        super().delete_queryset(request, queryset.exclude(pk__in=used))

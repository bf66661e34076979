from django import forms
from django.contrib import admin, messages
from django.db import transaction

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
from transfers.services.schedules import remove_periodic_task, sync_periodic_task


class EndpointAdminForm(forms.ModelForm):
    """The secret is write-only: the form never shows it, a blank field keeps the stored one."""

    new_secret_access_key = forms.CharField(
        label="Secret access key",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the current secret.",
    )

    class Meta:
        model = Endpoint
        fields = (
            "team",
            "name",
            "url",
            "region",
            "addressing_style",
            "verify_tls",
            "access_key_id",
        )

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("new_secret_access_key"):
            self.add_error("new_secret_access_key", "A new endpoint needs a secret access key.")
        return cleaned

    def save(self, commit=True):
        secret = self.cleaned_data.get("new_secret_access_key")
        if secret:
            self.instance.secret_access_key = secret
        return super().save(commit=commit)


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointAdminForm
    list_display = ("name", "team", "display_url", "region", "access_key_id", "updated_at")
    list_filter = ("team",)
    search_fields = ("name", "url")


def _each(modeladmin, request, queryset, act) -> None:
    """Apply a service to each selected object the user may operate; report each outcome."""
    for obj in queryset.operable_by(request.user):
        try:
            modeladmin.message_user(request, act(obj))
        except Conflict as exc:
            modeladmin.message_user(request, str(exc), level=messages.WARNING)


@admin.register(SyncProfile)
class SyncProfileAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "team",
        "mode",
        "source_display",
        "destination_display",
        "schedule",
        "schedule_enabled",
        "max_staleness_minutes",
    )
    list_filter = ("team", "mode", "schedule_enabled")
    search_fields = ("name",)
    list_select_related = ("team", "source_endpoint", "destination_endpoint")
    actions = ["run_now"]

    # Edits here skip the services, so keep the beat entry in step the same way they do.
    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            sync_periodic_task(obj)

    def delete_model(self, request, obj):
        with transaction.atomic():
            task = obj.periodic_task
            super().delete_model(request, obj)
            if task is not None:
                remove_periodic_task(task)

    def delete_queryset(self, request, queryset):
        for profile in queryset:
            self.delete_model(request, profile)

    @admin.action(description="Run the selected profiles now")
    def run_now(self, request, queryset):
        def start(profile):
            job = services.start_job(profile, actor=request.user, request=request)
            return f"Started job #{job.pk} of {profile}."

        _each(self, request, queryset, start)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "profile_name", "team", "state", "trigger", "created_at", "finished_at")
    list_filter = ("state", "trigger", "team")
    search_fields = ("profile_name",)
    list_select_related = ("team",)
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["cancel", "approve", "retry_failed"]

    def has_add_permission(self, request):
        return False

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
class JobFailureAdmin(admin.ModelAdmin):
    list_display = ("job", "operation", "key", "error")
    list_filter = ("operation",)
    search_fields = ("key",)
    list_select_related = ("job",)
    raw_id_fields = ("job",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JobSample)
class JobSampleAdmin(admin.ModelAdmin):
    list_display = ("job", "t", "objects_done", "bytes_done")
    list_select_related = ("job",)


class _ReadOnlyAdmin(admin.ModelAdmin):
    """For records the portal writes itself: inspect them here, change them through services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SkippedRun)
class SkippedRunAdmin(_ReadOnlyAdmin):
    list_display = ("at", "profile", "team", "blocking_job", "reason")
    list_filter = ("team",)
    list_select_related = ("profile", "team")
    raw_id_fields = ("profile", "blocking_job")


@admin.register(Notification)
class NotificationAdmin(_ReadOnlyAdmin):
    list_display = ("profile", "channel", "target_display", "events", "enabled", "updated_at")
    list_filter = ("channel", "enabled")
    list_select_related = ("profile",)
    exclude = ("secret", "target")  # the secret is write-only; URLs may carry tokens
    readonly_fields = ("target_display",)


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnlyAdmin):
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

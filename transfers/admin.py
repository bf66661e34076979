from django import forms
from django.contrib import admin

from transfers.models import Endpoint, Job, JobSample, SyncProfile


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


@admin.register(SyncProfile)
class SyncProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "mode", "source_display", "destination_display", "schedule")
    list_filter = ("team", "mode")
    search_fields = ("name",)
    list_select_related = ("team", "source_endpoint", "destination_endpoint")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "profile_name", "team", "state", "trigger", "created_at", "finished_at")
    list_filter = ("state", "trigger", "team")
    search_fields = ("profile_name",)
    list_select_related = ("team",)
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(JobSample)
class JobSampleAdmin(admin.ModelAdmin):
    list_display = ("job", "t", "objects_done", "bytes_done")
    list_select_related = ("job",)

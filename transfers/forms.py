"""Forms of the transfer pages. They shape input for the services, which own the rules: a
service's `ValidationError` comes back as errors on these fields (see views/_common.py)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.urls import reverse_lazy
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from accounts.models import Team
from syncportal.limits import form_field_options
from transfers.models import Endpoint, Job, Notification, SyncProfile
from transfers.services.profiles import EDITABLE


def _attrs(attrs: dict) -> str:
    """HTML attributes as django/forms/widgets/attrs.html writes them."""
    return "".join(
        f" {conditional_escape(name)}"
        + ("" if value is True else f'="{conditional_escape(str(value))}"')
        for name, value in attrs.items()
        if value is not False
    )


class PlainSelect(forms.Select):
    """Django's `<select>`, written in Python. Django renders every option through a template
    include of its own, which made the filter form a quarter of the jobs page's rendering; the
    markup is the same, byte for byte (tests/transfers/test_forms_select.py)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, options, _ in widget["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in options:
                value_text = conditional_escape(str(option["value"]))
                parts.append(
                    f'\n  <option value="{value_text}"{_attrs(option["attrs"])}>'
                    f"{conditional_escape(option['label'])}</option>\n"
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")  # the renderer strips the template's last newline
        return mark_safe("".join(parts))  # noqa: S308 (every part escaped above)


class PortalForm(forms.Form):
    """Labels without Django's trailing colon, as the pages lay them out above the fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


SECRET_WIDGET = forms.PasswordInput(
    render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
)


def _team_field(teams, help_text: str) -> forms.ModelChoiceField:
    """A team chooser; with a single team it is a hidden field (the page names the team)."""
    field = forms.ModelChoiceField(queryset=teams, help_text=help_text, empty_label=None)
    only = list(teams[:2])
    if len(only) == 1:
        field.initial = only[0].pk
        field.widget = forms.HiddenInput()
    return field


class EndpointForm(PortalForm):
    """Create or edit an endpoint. The secret is asked for on creation only; changing it is a
    rotation (`RotateSecretForm`), and it is never filled back in."""

    name = forms.CharField(max_length=100, help_text="How profiles and people refer to it.")
    url = forms.CharField(
        label="Endpoint URL",
        max_length=255,
        required=False,
        help_text="e.g. https://minio.example.com:9000 or https://<account>.r2.cloudflarestorage"
        ".com. Leave blank for AWS S3.",
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    region = forms.CharField(
        max_length=64,
        initial="us-east-1",
        help_text="The signing region. MinIO and Ceph accept us-east-1; R2 uses auto.",
    )
    addressing_style = forms.ChoiceField(
        choices=Endpoint.Addressing.choices,
        initial=Endpoint.Addressing.AUTO,
        help_text="Path style suits most self-hosted services; virtual-hosted suits AWS.",
    )
    verify_tls = forms.BooleanField(
        label="Verify TLS certificates",
        required=False,
        initial=True,
        help_text="Turn off only for a service with a self-signed certificate you trust.",
    )
    access_key_id = forms.CharField(
        label="Access key ID",
        max_length=128,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    secret_access_key = forms.CharField(
        label="Secret access key",
        widget=SECRET_WIDGET,
        strip=False,
        help_text="Stored encrypted and never shown again.",
    )

    def __init__(self, *args, teams=None, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["secret_access_key"]
        else:
            self.fields = {
                "team": _team_field(teams, "The team that owns the endpoint and its credentials."),
                **self.fields,
            }


class RotateSecretForm(PortalForm):
    access_key_id = forms.CharField(
        label="New access key ID",
        max_length=128,
        required=False,
        help_text="Only if the key pair changes; leave blank to keep the current one.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    secret_access_key = forms.CharField(
        label="New secret access key", widget=SECRET_WIDGET, strip=False
    )


class EndpointTestForm(PortalForm):
    bucket = forms.CharField(
        max_length=63,
        required=False,
        help_text="Optional: also check that this bucket can be listed.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "placeholder": "bucket name"}),
    )


class _Lines(forms.CharField):
    """One glob pattern per line."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        text = super().to_python(value)
        return [line.strip() for line in text.splitlines() if line.strip()]


class EndpointChoiceField(forms.ModelChoiceField):
    show_team = False  # set when the choices span several teams

    def label_from_instance(self, obj: Endpoint) -> str:
        label = f"{obj.name} ({obj.display_url})"
        return f"{obj.team.name} · {label}" if self.show_team else label


def _model(name: str) -> dict:
    """A profile field's limits and default, from the model (`syncportal.limits`)."""
    return form_field_options(SyncProfile, name)


class ProfileForm(PortalForm):
    """Every setting of a profile, grouped as the page shows them (`SECTIONS`). Limits and
    defaults come from the model's fields (`_model`); labels and help texts are the page's."""

    name = forms.CharField(**_model("name"))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Optional."
    )
    source_endpoint = EndpointChoiceField(queryset=Endpoint.objects.none(), required=False)
    source_bucket = forms.CharField(label="Bucket", required=False, **_model("source_bucket"))
    source_prefix = forms.CharField(
        label="Prefix",
        required=False,
        **_model("source_prefix"),
        help_text="Only keys under this prefix, e.g. exports/2026/. Blank: the whole bucket.",
    )
    source_wildcards = forms.BooleanField(
        label="Wildcards in the prefix",
        required=False,
        help_text="Treat * and ? in the prefix as wildcards (e.g. logs/*/2026-*).",
    )
    source_path = forms.CharField(
        label="or a local directory",
        required=False,
        **_model("source_path"),
        help_text="A directory on the workers, under an allowed root, instead of S3.",
    )
    destination_endpoint = EndpointChoiceField(queryset=Endpoint.objects.none(), required=False)
    destination_bucket = forms.CharField(
        label="Bucket", required=False, **_model("destination_bucket")
    )
    destination_prefix = forms.CharField(
        label="Prefix",
        required=False,
        **_model("destination_prefix"),
        help_text="Objects land under this prefix, keeping their path relative to the source.",
    )
    destination_path = forms.CharField(
        label="or a local directory", required=False, **_model("destination_path")
    )
    mode = forms.ChoiceField(
        choices=SyncProfile.Mode.choices,
        **_model("mode"),
        widget=forms.RadioSelect,
        help_text="Mirror deletes destination objects the source no longer has (in scope only).",
    )
    compare = forms.ChoiceField(
        label="Changed when",
        choices=SyncProfile.Compare.choices,
        **_model("compare"),
        help_text="How sync and mirror decide an object differs. Checksum compares MD5 ETags "
        "where both sides have one (not multipart uploads).",
    )
    include_patterns = _Lines(
        label="Include",
        required=False,
        help_text="Glob patterns, one per line, relative to the prefix (e.g. *.parquet). "
        "Blank: everything. * also matches /.",
    )
    exclude_patterns = _Lines(
        label="Exclude",
        required=False,
        help_text="Exclude wins over include. Excluded objects are never deleted.",
    )
    verify_after = forms.BooleanField(
        label="Verify after the run",
        required=False,
        **_model("verify_after"),
        help_text="List the destination again and check every object's size (and MD5 where "
        "comparable). Mismatches make the job partial.",
    )
    delete_threshold = forms.IntegerField(
        label="Approval above",
        min_value=0,
        **_model("delete_threshold"),
        help_text="A mirror that would delete more objects than this pauses for approval.",
    )
    workers = forms.IntegerField(
        **_model("workers"),
        help_text="Objects transferred in parallel. Lower it to go easy on a slow endpoint.",
    )
    concurrency = forms.IntegerField(
        label="Parts per object",
        **_model("concurrency"),
        help_text="Parts of one large object transferred in parallel.",
    )
    part_size_mb = forms.IntegerField(
        label="Part size (MiB)",
        **_model("part_size_mb"),
        help_text="Multipart part size; S3 allows 10,000 parts per object.",
    )
    storage_class = forms.CharField(
        required=False,
        **_model("storage_class"),
        help_text="e.g. STANDARD_IA or GLACIER_IR. Blank: the destination bucket's default.",
    )
    max_parallel_shards = forms.IntegerField(
        label="Most shards at once",
        required=False,
        **_model("max_parallel_shards"),
        help_text=SyncProfile._meta.get_field("max_parallel_shards").help_text,
    )
    schedule = forms.CharField(
        required=False,
        **_model("schedule"),
        help_text="When runs start by themselves: five cron fields in UTC (minute, hour, day of "
        "month, month, day of week; Sunday is 0). For example 30 2 * * * runs at 02:30 every "
        "day, 0 */6 * * * every six hours, 0 7 * * 1-5 at 07:00 on weekdays; @hourly and "
        "@daily work too. Blank: runs only when someone starts them.",
        widget=forms.TextInput(
            attrs={
                "spellcheck": "false",
                "autocomplete": "off",
                "placeholder": "30 2 * * *",
                # The schedule in words and its next runs appear under the field as one types.
                "hx-get": reverse_lazy("profile_schedule"),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": "#schedule-preview",
                "hx-swap": "outerHTML",
            }
        ),
    )
    schedule_enabled = forms.BooleanField(
        label="Run on the schedule",
        required=False,
        **_model("schedule_enabled"),
        help_text="Untick to pause the schedule without losing it. A run still in progress when "
        "the next one is due makes that one skip (the profile page lists skipped runs).",
    )
    max_staleness_minutes = forms.IntegerField(
        label="Freshness target (minutes)",
        required=False,
        **_model("max_staleness_minutes"),
        help_text="The destination is at most this many minutes behind: the last successful run "
        "must have started within it, or the profile shows as stale and its freshness "
        "notifications are sent, once per breach. Blank: not tracked.",
        widget=forms.NumberInput(attrs={"placeholder": "e.g. 1500 for a nightly run"}),
    )

    SECTIONS = (
        ("About", "", ("team", "name", "description")),
        ("Source", "Where objects are read from.", ("source_endpoint", "source_bucket",
                                                   "source_prefix", "source_wildcards",
                                                   "source_path")),
        ("Destination", "Where they are written.", ("destination_endpoint",
                                                    "destination_bucket", "destination_prefix",
                                                    "destination_path")),
        ("What a run does", "", ("mode", "compare", "verify_after", "delete_threshold")),
        ("Filters", "Which objects are in scope.", ("include_patterns", "exclude_patterns")),
        ("Performance", "Defaults suit most transfers.", ("workers", "concurrency",
                                                          "part_size_mb", "storage_class",
                                                          "max_parallel_shards")),
        ("Schedule and freshness", "When runs start by themselves, and how far behind the "
                                   "destination may fall.", ("schedule", "schedule_enabled",
                                                             "max_staleness_minutes")),
    )  # fmt: skip

    def __init__(self, *args, teams=None, endpoints=None, **kwargs):
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields = {
                "team": _team_field(teams, "The team that owns the profile and its jobs."),
                **self.fields,
            }
        for side in ("source", "destination"):
            field = self.fields[f"{side}_endpoint"]
            field.queryset = endpoints if endpoints is not None else Endpoint.objects.none()
            field.show_team = teams is not None and len({e.team_id for e in field.queryset}) > 1
            field.label = "Endpoint"
            field.empty_label = "—"
            if not settings.LOCAL_ROOTS:
                del self.fields[f"{side}_path"]
        # Blank is automatic: say what that is here, where the setting is read at run time.
        automatic = f"automatic: {settings.TRANSFER_SHARDS_PER_JOB}"
        self.fields["max_parallel_shards"].widget.attrs["placeholder"] = automatic

    def sections(self):
        """(title, intro, [bound fields]) in page order, skipping fields this form lacks."""
        for title, intro, names in self.SECTIONS:
            fields = [self[name] for name in names if name in self.fields]
            if fields:
                yield title, intro, fields

    def service_fields(self) -> dict:
        """The cleaned values the profile services take (all but the team)."""
        return {k: v for k, v in self.cleaned_data.items() if k != "team"}

    @classmethod
    def initial_for(cls, profile: SyncProfile) -> dict:
        initial = {name: getattr(profile, name) for name in EDITABLE}
        for side in ("source", "destination"):
            initial[f"{side}_endpoint"] = getattr(profile, f"{side}_endpoint_id")
        return initial


class NotificationForm(PortalForm):
    """Add an email or webhook target to a profile; the notification services check it."""

    channel = forms.ChoiceField(
        label="Send by",
        choices=Notification.Channel.choices,
        initial=Notification.Channel.EMAIL,
        widget=forms.RadioSelect,
    )
    target = forms.CharField(
        label="Email address or webhook URL",
        max_length=2000,
        help_text="A webhook gets a signed JSON POST (its format and signature: "
        "docs/operations.md, Notifications); its URL is shown by scheme and host only from "
        "now on, since many carry a token.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    events = forms.MultipleChoiceField(
        label="Tell about",
        choices=Notification.Event.choices,
        initial=[Notification.Event.FAILED, Notification.Event.PARTIAL, Notification.Event.STALE],
        widget=forms.CheckboxSelectMultiple,
    )
    secret = forms.CharField(
        label="Signing secret (webhooks only)",
        required=False,
        strip=False,
        widget=SECRET_WIDGET,
        help_text="At least 16 characters, or leave it blank and the portal makes one. "
        "Either way it is shown once, right after the webhook is added, then never again.",
    )

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "channel": data["channel"],
            "target": data["target"],
            "events": data["events"],
            "secret": data["secret"] or None,
        }


class JobFilterForm(PortalForm):
    """The filters of the job list; every field is optional and bad values are ignored."""

    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, empty_label="All", widget=PlainSelect
    )
    profile = forms.ModelChoiceField(
        queryset=SyncProfile.objects.none(), required=False, empty_label="All", widget=PlainSelect
    )
    state = forms.ChoiceField(
        choices=[("", "All"), *Job.State.choices], required=False, widget=PlainSelect
    )
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, teams=None, profiles=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["profile"].queryset = profiles

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from accounts.access import Role
from accounts.audit_trail import Filters
from accounts.models import ApiToken, Team, User


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=50, required=False, help_text="Derived from the name.")


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self) -> User:
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user is named {username!r}.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'nightly CI'.")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        widget=forms.RadioSelect,
        help_text="Read tokens can only read; write tokens can also run jobs and change things "
        "your role allows.",
    )
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="The token reaches only these teams.",
    )
    expires_in_days = forms.IntegerField(label="Expires in (days)", min_value=1, initial=90)

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["teams"].queryset = teams if teams is not None else Team.objects.none()
        lifetime = self.fields["expires_in_days"]
        lifetime.validators.append(MaxValueValidator(settings.API_TOKEN_MAX_DAYS))
        lifetime.widget.attrs["max"] = settings.API_TOKEN_MAX_DAYS


class AuditFilterForm(forms.Form):
    """The `/audit/` page's filters; times are UTC (the page shows local time beside them)."""

    actor = forms.CharField(
        max_length=150, required=False, widget=forms.TextInput(attrs={"placeholder": "username"})
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="All")
    action = forms.CharField(
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "job.cancelled, or job.*"}),
    )
    target_type = forms.CharField(
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "transfers.job"}),
    )
    target_id = forms.CharField(max_length=64, required=False)
    created_after = forms.DateTimeField(
        label="From (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    created_before = forms.DateTimeField(
        label="Until (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()

    def clean(self) -> dict:
        data = super().clean()
        for name in ("actor", "action", "target_type", "target_id"):
            if "\x00" in data.get(name, ""):
                self.add_error(name, "Remove the NUL character.")
        return data

    def filters(self):
        data = self.cleaned_data
        return Filters(
            actor=data["actor"].strip(),
            team=data["team"].pk if data["team"] else None,
            action=data["action"].strip(),
            target_type=data["target_type"].strip(),
            target_id=data["target_id"].strip(),
            created_after=data["created_after"],
            created_before=data["created_before"],
        )

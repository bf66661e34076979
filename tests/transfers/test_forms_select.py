"""The job filter form's selects are written in Python (transfers.forms.PlainSelect), for
speed: they must be Django's own markup, byte for byte."""

from __future__ import annotations

import pytest
from django import forms

from transfers.forms import JobFilterForm, PlainSelect

CHOICES = [
    ("", "All"),
    ("a&b", 'Quotes " and <tags>'),
    ("Group <1>", [(1, "one"), (2, "two")]),
    (3, "three"),
]


@pytest.mark.parametrize("value", [None, "", "a&b", 2, ["3"]])
@pytest.mark.parametrize("attrs", [None, {"class": "x", "data-on": True, "hidden": False}])
def test_it_writes_what_djangos_select_writes(value, attrs):
    expected = forms.Select(choices=CHOICES).render("state", value, attrs=attrs)
    assert PlainSelect(choices=CHOICES).render("state", value, attrs=attrs) == expected


@pytest.mark.django_db
def test_the_job_filter_form_renders_as_django_would(team, offline_profile):
    from accounts.models import Team
    from transfers.models import SyncProfile

    def page(widget_class) -> str:
        form = JobFilterForm(
            {"state": "failed", "team": str(team.pk)},
            teams=Team.objects.all(),
            profiles=SyncProfile.objects.all(),
        )
        for field in form.fields.values():
            if isinstance(field.widget, forms.Select):
                field.widget.__class__ = widget_class
        return "".join(str(bound) for bound in form)

    assert page(PlainSelect) == page(forms.Select)
    assert f'<option value="{offline_profile.pk}">' in page(PlainSelect)

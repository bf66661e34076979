"""The profile pages: operators create and edit profiles with the service's rules shown on
the fields, schedule them and set freshness targets, preview a run (its progress, then the plan
with how long it would take) against real S3, run, approve and delete; viewers only read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from tests.transfers.pages import endpoint, finished_job, profile, signed_in
from tests.transfers.support import put_objects, sample_data
from transfers.models import Job, Preview, SyncProfile
from transfers.previews import run_preview

pytestmark = pytest.mark.django_db


def form(store, **overrides):
    values = {
        "name": "Nightly",
        "source_endpoint": store.pk,
        "source_bucket": "raw",
        "source_prefix": "in/",
        "destination_endpoint": store.pk,
        "destination_bucket": "archive",
        "destination_prefix": "out/",
        "mode": "mirror",
        "compare": "size_only",
        "include_patterns": "*.parquet\n\n  *.csv  ",
        "exclude_patterns": "",
        "verify_after": "on",
        "delete_threshold": "10",
        "workers": "32",
        "concurrency": "4",
        "part_size_mb": "64",
        "storage_class": "",
        "schedule": "0 2 * * *",
    }
    values.update(overrides)
    return values


def test_an_operator_creates_a_profile(team, operator):
    client = signed_in(operator)
    store = endpoint(team)
    page = client.get("/profiles/new/").content.decode()
    assert "Glob patterns, one per line" in page  # every option is explained
    response = client.post("/profiles/new/", form(store, team=team.pk))
    created = SyncProfile.objects.get(name="Nightly")
    assert response["Location"] == f"/profiles/{created.pk}/"
    assert created.include_patterns == ["*.parquet", "*.csv"]
    assert (created.mode, created.workers, created.created_by) == ("mirror", 32, operator)
    assert AuditEvent.objects.filter(action="profile.created").count() == 1


def test_the_services_rules_come_back_on_the_fields(team, operator, other_team):
    client = signed_in(operator)
    store = endpoint(team)
    theirs = endpoint(other_team, "Theirs")
    response = client.post(
        "/profiles/new/",
        form(store, team=team.pk, destination_bucket="raw", destination_prefix="in/sub/"),
    )
    assert response.status_code == 422
    assert "overlaps the source" in response.context["form"].errors["destination_prefix"][0]
    response = client.post("/profiles/new/", form(theirs, team=team.pk))
    assert response.status_code == 422  # another team's endpoint is not even a choice
    assert "source_endpoint" in response.context["form"].errors
    assert not SyncProfile.objects.exists()


def test_an_edit_changes_only_what_changed(team, operator):
    client = signed_in(operator)
    store = endpoint(team)
    nightly = profile(team, store, include_patterns=["*.csv"])
    page = client.get(f"/profiles/{nightly.pk}/edit/")
    initial = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data = {**initial, "source_endpoint": store.pk, "destination_endpoint": store.pk}
    data.update(include_patterns="*.csv", name="Nightly v2", workers=8)
    data = {k: v for k, v in data.items() if v is not False}
    response = client.post(f"/profiles/{nightly.pk}/edit/", data)
    assert response.status_code == 302, response.context and response.context["form"].errors
    event = AuditEvent.objects.get(action="profile.updated")
    assert set(event.details["after"]) == {"name", "workers"}


def test_an_operator_schedules_pauses_and_clears_runs_in_the_form(team, operator):
    client = signed_in(operator)
    store = endpoint(team)
    page = client.get("/profiles/new/").content.decode()
    assert "30 2 * * * runs at 02:30 every day" in page  # the schedule is explained
    assert "Freshness target (minutes)" in page and "Run on the schedule" in page

    values = form(store, team=team.pk, schedule="30 2 * * 1-5", schedule_enabled="on")
    client.post("/profiles/new/", {**values, "max_staleness_minutes": "1500"})
    nightly = SyncProfile.objects.get()
    assert (nightly.schedule, nightly.max_staleness_minutes) == ("30 2 * * 1-5", 1500)
    assert nightly.periodic_task.enabled
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "At 02:30, Monday through Friday (UTC)" in page
    assert '<ul class="next-runs">' in page
    assert "Never run" in page  # tracked, no success yet

    edit = f"/profiles/{nightly.pk}/edit/"
    page = client.get(edit).content.decode()
    assert "At 02:30, Monday through Friday (UTC)" in page  # under the field, as typed
    values = {**values, "max_staleness_minutes": "1500"}
    values.pop("schedule_enabled")  # unticked
    assert client.post(edit, values).status_code == 302
    nightly.refresh_from_db()
    assert not nightly.schedule_enabled and not nightly.periodic_task.enabled
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "Paused" in page and "next-runs" not in page  # kept, with no next run

    client.post(edit, {**values, "schedule": "", "max_staleness_minutes": ""})
    nightly.refresh_from_db()
    assert (nightly.schedule, nightly.periodic_task, nightly.max_staleness_minutes) == (
        "",
        None,
        None,
    )
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "No schedule: manual runs only." in page and "No freshness target" in page


def test_a_schedule_the_service_refuses_comes_back_on_its_field(team, operator):
    client = signed_in(operator)
    response = client.post(
        "/profiles/new/", form(endpoint(team), team=team.pk, schedule="0 2 31 2 *")
    )
    assert response.status_code == 422
    assert "never runs" in response.context["form"].errors["schedule"][0]
    assert not SyncProfile.objects.exists()


def test_the_form_says_what_a_schedule_means_as_it_is_typed(team, operator):
    client = signed_in(operator)
    page = client.get("/profiles/new/").content.decode()
    assert 'hx-get="/profiles/schedule/"' in page and 'id="schedule-preview"' in page

    page = client.get("/profiles/schedule/", {"schedule": "0 */6 * * *"}).content.decode()
    assert page.lstrip().startswith('<div id="schedule-preview"')
    assert "Every 6 hours (UTC)" in page and page.count("<time") == 3
    page = client.get("/profiles/schedule/", {"schedule": "0 25 * * *"}).content.decode()
    assert "The hour field &#x27;25&#x27; is not valid" in page
    page = client.get("/profiles/schedule/", {"schedule": ""}).content.decode()
    assert "runs start only when someone starts them" in page


def test_the_list_shows_freshness_and_schedules_in_words(team, viewer):
    client = signed_in(viewer)
    store = endpoint(team)
    long_ago = timezone.now() - timedelta(hours=3)
    stale = profile(team, store, "Hourly", schedule="0 * * * *", max_staleness_minutes=90)
    finished_job(stale, started_at=long_ago, finished_at=long_ago + timedelta(seconds=10))
    fresh = profile(team, store, "Nightly", schedule="30 2 * * *", max_staleness_minutes=1500)
    finished_job(fresh)
    profile(team, store, "Paused", schedule="0 3 * * *", schedule_enabled=False)
    profile(team, store, "Manual")

    page = client.get("/profiles/").content.decode()
    assert ">Stale</span>" in page and ">Fresh</span>" in page
    assert "Every hour (UTC)" in page and "At 02:30 (UTC)" in page and "At 03:00 (UTC)" in page
    assert page.count("next <time") == 2 and "Paused" in page  # a paused one has no next run


def test_running_starts_a_job_and_a_second_run_is_refused(team, operator):
    client = signed_in(operator)
    nightly = profile(team, endpoint(team))
    response = client.post(f"/profiles/{nightly.pk}/run/")
    job = Job.objects.get(profile=nightly)
    assert response["Location"] == f"/jobs/{job.pk}/"
    response = client.post(f"/profiles/{nightly.pk}/run/", {"from": "list"}, follow=True)
    assert response.redirect_chain[-1][0] == "/profiles/"
    assert "already has a job in progress" in response.content.decode()
    assert Job.objects.filter(profile=nightly).count() == 1


def test_the_preview_shows_its_progress_then_what_a_run_would_do(team, operator, viewer, s3_a):
    client = signed_in(operator)
    bucket = s3_a.bucket("preview")
    put_objects(s3_a.client(), bucket, sample_data(12), prefix="src/")
    put_objects(s3_a.client(), bucket, {"gone.bin": b"x"}, prefix="dst/")
    store = s3_a.endpoint(team, "Provider A")
    mirror = profile(
        team,
        store,
        source_bucket=bucket,
        source_prefix="src/",
        destination_bucket=bucket,
        destination_prefix="dst/",
        mode="mirror",
    )
    response = client.post(f"/profiles/{mirror.pk}/preview/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    preview = Preview.objects.get(profile=mirror)
    # The request only queued it: the page follows its socket until it ends.
    assert page.lstrip().startswith('<div id="preview"')
    assert f'data-socket="/ws/previews/{preview.pk}/"' in page
    assert "Source listed" in page and "Cancel the preview" in page
    assert "waiting for a worker" in page

    assert run_preview(preview.pk) == "succeeded"  # what the worker does (test_previews.py)
    page = client.get(f"/previews/{preview.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "data-socket" not in page
    assert 'data-preview="copy">12<' in page and 'data-preview="delete">1<' in page
    assert "gone.bin" in page and "dir0/object-00000.bin" in page
    assert 'data-preview="predicted">—<' in page and "no earlier run to go by" in page
    # A reload shows it too, to every member; only operators get the buttons.
    for reader in (client, signed_in(viewer)):
        assert 'data-preview="copy">12<' in reader.get(f"/profiles/{mirror.pk}/").content.decode()

    finished_job(mirror)  # 10 objects (10 MiB) in 10 s: one object a second
    response = client.post(f"/profiles/{mirror.pk}/preview/")
    assert response["Location"] == f"/profiles/{mirror.pk}/#preview"
    assert run_preview(Preview.objects.latest("created_at").pk) == "succeeded"
    page = client.get(f"/profiles/{mirror.pk}/").content.decode()
    assert 'data-preview="predicted">12 s<' in page
    assert "based on the last run of this profile" in page


def test_a_preview_of_an_unreachable_endpoint_explains_why(team, operator):
    client = signed_in(operator)
    nightly = profile(team, endpoint(team, url="http://127.0.0.1:9"))
    client.post(f"/profiles/{nightly.pk}/preview/")
    assert run_preview(Preview.objects.get().pk) == "failed"
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "The preview could not list the data." in page
    assert "127.0.0.1:9" in page


def test_a_preview_is_cancelled_from_the_page(team, operator):
    client = signed_in(operator)
    nightly = profile(team, endpoint(team, url="http://127.0.0.1:9"))
    client.post(f"/profiles/{nightly.pk}/preview/")
    preview = Preview.objects.get()
    page = client.post(f"/previews/{preview.pk}/cancel/", HTTP_HX_REQUEST="true").content.decode()
    assert "Cancelled" in page and f"Cancelled by {operator}." in page
    assert "data-socket" not in page
    again = client.post(f"/profiles/{nightly.pk}/preview/", HTTP_HX_REQUEST="true")
    assert "Cancel the preview" in again.content.decode()
    busy = client.post(f"/profiles/{nightly.pk}/preview/", HTTP_HX_REQUEST="true")
    assert "already in progress" in busy.content.decode()
    assert list(AuditEvent.objects.values_list("action", flat=True))[-3:] == [
        "preview.started",
        "preview.cancelled",
        "preview.started",
    ]


def test_a_paused_mirror_is_approved_from_its_profile(team, operator):
    client = signed_in(operator)
    mirror = profile(team, endpoint(team), mode="mirror", delete_threshold=5)
    job = Job.objects.create(
        team=team,
        profile=mirror,
        profile_name=mirror.name,
        state=Job.State.AWAITING_APPROVAL,
        plan={"objects_to_delete": 40, "sample_to_delete": ["old/a.bin"]},
    )
    page = client.get(f"/profiles/{mirror.pk}/").content.decode()
    assert "it would delete <strong>40</strong> objects" in page and "old/a.bin" in page
    response = client.post(f"/jobs/{job.pk}/approve/")
    assert response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert (job.state, job.approved_by) == (Job.State.QUEUED, operator)


def test_a_viewer_reads_profiles_without_buttons(team, viewer):
    client = signed_in(viewer)
    nightly = profile(team, endpoint(team))
    for url in ("/profiles/", f"/profiles/{nightly.pk}/"):
        page = client.get(url).content.decode()
        assert "Nightly" in page
        for action in ("/run/", "/preview/", "/edit/", "/delete/", "/profiles/new/"):
            assert action not in page, (url, action)


def test_deleting_keeps_the_jobs(team, operator):
    client = signed_in(operator)
    nightly = profile(team, endpoint(team))
    Job.objects.create(team=team, profile=nightly, profile_name="Nightly", state="succeeded")
    response = client.post(f"/profiles/{nightly.pk}/delete/")
    assert response["Location"] == "/profiles/"
    assert not SyncProfile.objects.exists()
    assert Job.objects.get().profile_name == "Nightly"

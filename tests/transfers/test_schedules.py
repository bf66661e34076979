"""Schedules: a profile's cron is a django-celery-beat entry kept in step by the services; a
firing starts a job, or records why it did not while the previous run is still going."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import AuditEvent
from tests.support import start_celery_beat, wait_until
from tests.transfers.support import put_objects, s3_keys, same_bucket_profile, wait_for_job
from transfers import services
from transfers.models import Endpoint, Job, SkippedRun, SyncProfile
from transfers.services.schedules import run_scheduled


@pytest.fixture
def endpoint(team):
    return Endpoint.objects.create(
        team=team, name="s3", url="http://127.0.0.1:9000", access_key_id="a", secret_access_key="s"
    )


def create(team, actor, endpoint, **fields) -> SyncProfile:
    values = {
        "name": "nightly",
        "source_endpoint": endpoint,
        "source_bucket": "source-bucket",
        "destination_endpoint": endpoint,
        "destination_bucket": "archive-bucket",
    }
    values.update(fields)
    return services.create_profile(team, actor=actor, **values)


def running_job(profile) -> Job:
    """A run of `profile` that holds a live lease somewhere else."""
    return Job.objects.create(
        team=profile.team,
        profile=profile,
        profile_name=profile.name,
        state=Job.State.RUNNING,
        lease_owner="elsewhere:1:abcd",
        lease_expires_at=timezone.now() + timedelta(hours=1),
        started_at=timezone.now(),
    )


@pytest.mark.django_db
def test_a_profile_with_a_schedule_gets_a_beat_entry(team, operator, endpoint):
    profile = create(team, operator, endpoint, schedule="30 2 * * 1-5")

    task = PeriodicTask.objects.get()
    assert profile.periodic_task == task
    assert (task.task, json.loads(task.args), task.enabled) == (
        "transfers.run_scheduled",
        [profile.pk],
        True,
    )
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year) == (
        "30",
        "2",
        "*",
        "*",
    )
    assert (crontab.day_of_week, str(crontab.timezone)) == ("1-5", "UTC")
    assert AuditEvent.objects.get().details["after"]["schedule"] == "30 2 * * 1-5"


@pytest.mark.django_db
def test_a_profile_without_a_schedule_has_none(team, operator, endpoint):
    profile = create(team, operator, endpoint)
    assert profile.periodic_task is None and not PeriodicTask.objects.exists()
    assert profile.next_runs() == [] and profile.schedule_description == ""


@pytest.mark.django_db
def test_changing_the_schedule_changes_the_entry_and_forgets_the_old_run(team, operator, endpoint):
    profile = create(team, operator, endpoint, schedule="@daily")
    assert profile.schedule == "0 0 * * *"  # stored as five fields
    task = profile.periodic_task
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(days=3))

    services.update_profile(profile, actor=operator, schedule="*/10 * * * *")

    task.refresh_from_db()
    assert task.crontab.minute == "*/10"
    assert task.last_run_at is None  # counts from now: no make-up run for the old schedule
    assert CrontabSchedule.objects.count() == 1  # the unused daily row is gone
    event = AuditEvent.objects.filter(action="profile.updated").get()
    assert event.details["after"] == {"schedule": "*/10 * * * *"}


@pytest.mark.django_db
def test_pausing_and_resuming_a_schedule(team, operator, endpoint):
    profile = create(team, operator, endpoint, schedule="0 * * * *")

    services.update_profile(profile, actor=operator, schedule_enabled=False)
    assert PeriodicTask.objects.get().enabled is False
    assert profile.next_runs() == []

    services.update_profile(profile, actor=operator, schedule_enabled=True)
    assert PeriodicTask.objects.get().enabled is True


@pytest.mark.django_db
def test_clearing_or_deleting_removes_the_entry(team, operator, endpoint):
    first = create(team, operator, endpoint, schedule="0 * * * *")
    second = create(team, operator, endpoint, name="hourly", schedule="0 * * * *")
    assert PeriodicTask.objects.count() == 2 and CrontabSchedule.objects.count() == 1

    services.update_profile(first, actor=operator, schedule="")
    assert first.periodic_task is None
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == [
        f"profile {second.pk}: scheduled runs"
    ]

    services.delete_profile(second, actor=operator)
    assert not PeriodicTask.objects.exists() and not CrontabSchedule.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("every night", "five fields"),
        ("0 25 * * *", "The hour field '25' is not valid"),
        ("0 0 1 * mon", "not both"),
    ],
)
def test_a_bad_schedule_is_refused_on_its_field(team, operator, endpoint, schedule, message):
    with pytest.raises(ValidationError) as caught:
        create(team, operator, endpoint, schedule=schedule)

    assert message in caught.value.message_dict["schedule"][0]
    assert not SyncProfile.objects.exists() and not PeriodicTask.objects.exists()


@pytest.mark.django_db
def test_it_shows_the_schedule_in_words_with_next_runs(team, operator, endpoint):
    profile = create(team, operator, endpoint, schedule="15 3 * * sat")

    assert profile.schedule_description == "At 03:15, only on Saturday (UTC)"
    friday = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert profile.next_runs(2, after=friday) == [
        datetime(2026, 11, 28, 3, 15, tzinfo=UTC),
        datetime(2026, 12, 5, 3, 15, tzinfo=UTC),
    ]


@pytest.mark.django_db
def test_a_firing_starts_a_scheduled_job(
    team, operator, endpoint, django_capture_on_commit_callbacks
):
    profile = create(team, operator, endpoint, schedule="* * * * *")

    with django_capture_on_commit_callbacks() as callbacks:
        job = run_scheduled(profile.pk)

    assert (job.trigger, job.triggered_by, job.state) == ("schedule", None, "queued")
    assert len(callbacks) == 2  # the run is queued, the sockets are told
    started = AuditEvent.objects.get(action="job.started")
    assert started.actor is None and started.details["trigger"] == "schedule"


@pytest.mark.django_db
def test_a_firing_while_the_last_run_goes_on_is_skipped_and_recorded(team, operator, endpoint):
    profile = create(team, operator, endpoint, schedule="* * * * *")
    busy = running_job(profile)

    skipped = run_scheduled(profile.pk)

    assert isinstance(skipped, SkippedRun)
    assert skipped.blocking_job == busy and f"#{busy.pk}" in skipped.reason
    assert Job.objects.get() == busy  # nothing new started
    assert list(profile.skipped_runs.all()) == [skipped]
    event = AuditEvent.objects.get(action="schedule.skipped")
    assert event.details["blocking_job"] == busy.pk


@pytest.mark.django_db
def test_a_late_firing_for_a_removed_schedule_does_nothing(team, operator, endpoint):
    profile = create(team, operator, endpoint, schedule="* * * * *")
    services.update_profile(profile, actor=operator, schedule_enabled=False)

    assert run_scheduled(profile.pk) is None
    assert run_scheduled(profile.pk + 1000) is None
    assert not Job.objects.exists() and not SkippedRun.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_fires_a_schedule_into_a_job_and_skips_an_overlap(
    team, operator, s3_a, endpoint_a, celery_worker, tmp_path, process_env
):
    """The real path: `celery beat` with the DatabaseScheduler reads the entries the services
    wrote, sends `transfers.run_scheduled`, and the worker starts (and runs) the job.

    Both profiles fire every minute; their entries say the last firing was two minutes ago, so
    beat finds them due as soon as it starts instead of at the next minute boundary.
    """
    bucket = s3_a.bucket("sched")
    put_objects(s3_a.client(), bucket, {"a.txt": b"alpha", "b/c.txt": b"gamma"}, prefix="src/")
    free = same_bucket_profile(
        team, operator, endpoint_a, bucket, name="free", schedule="* * * * *"
    )
    busy = same_bucket_profile(
        team,
        operator,
        endpoint_a,
        bucket,
        name="busy",
        destination_prefix="other/",
        schedule="* * * * *",
    )
    blocking = running_job(busy)
    PeriodicTask.objects.filter(crontab__isnull=False).update(
        last_run_at=timezone.now() - timedelta(minutes=2)
    )

    beat = start_celery_beat(process_env, tmp_path / "beat.log")
    try:
        job = wait_until(
            lambda: Job.objects.filter(profile=free, trigger=Job.Trigger.SCHEDULE).first(),
            "beat to start a scheduled job",
            timeout=45,
        )
        skipped = wait_until(
            lambda: SkippedRun.objects.filter(profile=busy).first(),
            "beat to skip the busy profile's run",
            timeout=45,
        )
    finally:
        beat.stop()
    log = beat.log_path.read_text()

    assert "Sending due task profile" in log, log
    assert skipped.blocking_job == blocking
    assert Job.objects.filter(profile=busy).count() == 1  # only the run that was going on
    finished = wait_for_job(job)
    assert finished.state == Job.State.SUCCEEDED, finished.error
    assert s3_keys(s3_a.client(), bucket, "dst/") == {"a.txt", "b/c.txt"}


@pytest.mark.django_db
def test_the_partial_shows_the_schedule_its_next_runs_and_skips(team, operator, endpoint):
    from django.template.loader import render_to_string

    profile = create(team, operator, endpoint, schedule="*/5 * * * *")
    running_job(profile)
    run_scheduled(profile.pk)

    html = render_to_string("transfers/partials/schedule_summary.html", {"profile": profile})

    assert "Every 5 minutes (UTC)" in html and "<code" in html
    assert html.count("<time") == 4  # three next runs and the skipped one
    assert "already has a job in progress" in html
    services.update_profile(profile, actor=operator, schedule_enabled=False)
    html = render_to_string("transfers/partials/schedule_summary.html", {"profile": profile})
    assert "Paused" in html and "Next runs" not in html


@pytest.mark.django_db
def test_the_command_repairs_entries_changed_behind_the_services_back(team, operator, endpoint):
    from io import StringIO

    from django.core.management import call_command

    kept = create(team, operator, endpoint, schedule="0 * * * *")
    lost = create(team, operator, endpoint, name="lost", schedule="*/5 * * * *")
    PeriodicTask.objects.filter(pk=lost.periodic_task_id).delete()  # e.g. in the admin
    PeriodicTask.objects.create(
        name="profile 999: scheduled runs",
        task="transfers.run_scheduled",
        args="[999]",
        crontab=kept.periodic_task.crontab,
    )
    SyncProfile.objects.filter(pk=kept.pk).update(schedule="0 0 1 * 1")  # saved unchecked

    out, err = StringIO(), StringIO()
    call_command("sync_schedules", stdout=out, stderr=err)

    assert "1 scheduled profile(s); 1 stray entr(y/ies) removed." in out.getvalue()
    assert "data-platform/nightly: schedule '0 0 1 * 1' is not valid" in err.getvalue()
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == [
        f"profile {lost.pk}: scheduled runs"
    ]

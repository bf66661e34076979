"""The demo profile runs end to end from the command line, as a person would run it."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.transfers.support import s3_hashes
from transfers.management.commands.seed_demo import ARCHIVE_BUCKET, SOURCE_BUCKET
from transfers.models import Job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DEMO = "Demo: source to archive"


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_previews_then_runs_the_demo_profile(celery_worker, s3, tmp_path):
    run("seed_demo", "--s3-url", s3.url, "--login-file", str(tmp_path / "login"))
    client = s3.client()
    count = len(s3_hashes(client, SOURCE_BUCKET))

    preview = run("run_profile", DEMO, "--preview")
    assert f"copy      {count} objects" in preview and "unchanged 0 objects" in preview

    output = run("run_profile", DEMO, "--wait", "--user", "admin", "--timeout", "120")

    job = Job.objects.get()
    assert f"Job #{job.pk} succeeded." in output
    assert f"job #{job.pk} succeeded, {count}/{count} objects" in output
    assert s3_hashes(client, ARCHIVE_BUCKET, "mirror/") == s3_hashes(client, SOURCE_BUCKET)
    assert job.triggered_by.username == "admin"

    again = run("run_profile", DEMO, "--wait", "--timeout", "120")
    assert f"0/0 objects, {count} unchanged" in again

    with pytest.raises(CommandError, match="No profile 'nope'"):
        run("run_profile", "nope")
    with pytest.raises(CommandError, match="already finished"):
        run("job", "cancel", str(job.pk))

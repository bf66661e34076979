"""Helpers of the page tests: signed-in clients of the cast, and rows made without S3."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

from django.test import Client
from django.utils import timezone

from tests.support import enrol_totp
from transfers.models import Endpoint, Job, JobFailure, JobSample, SyncProfile
from transfers.specs import snapshot_options


def signed_in(user) -> Client:
    """A client signed in as `user`; operators and admins get MFA, as the policy requires."""
    if user.memberships.filter(role__in=["operator", "admin"]).exists() or user.is_superuser:
        enrol_totp(user)
    client = Client()
    client.force_login(user)
    return client


def endpoint(team, name: str = "MinIO", **fields) -> Endpoint:
    values = {
        "team": team,
        "name": name,
        "url": "http://127.0.0.1:9",
        "region": "us-east-1",
        "addressing_style": Endpoint.Addressing.PATH,
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "never-show-this-secret",
    }
    values.update(fields)
    return Endpoint.objects.create(**values)


def profile(team, source: Endpoint, name: str = "Nightly", **fields) -> SyncProfile:
    values = {
        "team": team,
        "name": name,
        "source_endpoint": source,
        "source_bucket": "raw",
        "source_prefix": "in/",
        "destination_endpoint": source,
        "destination_bucket": "archive",
        "destination_prefix": "out/",
    }
    values.update(fields)
    return SyncProfile.objects.create(**values)


def finished_job(profile: SyncProfile, state: str = Job.State.SUCCEEDED, **fields) -> Job:
    """A job as a worker leaves it, with a few samples (no worker involved)."""
    now = timezone.now()
    values = {
        "team": profile.team,
        "profile": profile,
        "profile_name": profile.name,
        "options": snapshot_options(profile),
        "state": state,
        "objects_total": 10,
        "bytes_total": 10 * 1024 * 1024,
        "objects_done": 10,
        "bytes_done": 10 * 1024 * 1024,
        "throughput_bps": 1024 * 1024,
        "started_at": now - timedelta(seconds=10),
        "finished_at": now,
    }
    values.update(fields)
    job = Job.objects.create(**values)
    JobSample.objects.bulk_create(
        JobSample(job=job, t=now - timedelta(seconds=10 - s), objects_done=s, bytes_done=s << 20)
        for s in range(1, 11)
    )
    return job


def failures(job: Job, count: int) -> None:
    JobFailure.objects.bulk_create(
        JobFailure(job=job, key=f"dir/object-{n}.bin", operation="copy", error="AccessDenied")
        for n in range(count)
    )


_VOID = {"br", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Texts(HTMLParser):
    """The text of every element carrying `attribute`, by its value (whitespace collapsed);
    `tags` lists the (tag, attributes) of every start tag."""

    def __init__(self, attribute: str):
        super().__init__()
        self.attribute, self.texts, self.tags, self.open = attribute, {}, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag in _VOID:
            return
        for entry in self.open:
            entry[1] += 1
        if self.attribute in attrs:
            self.open.append([attrs[self.attribute], 1, []])

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        for entry in list(self.open):
            entry[1] -= 1
            if entry[1] == 0:
                self.open.remove(entry)
                self.texts[entry[0]] = " ".join(" ".join(entry[2]).split())

    def handle_data(self, data):
        for entry in self.open:
            entry[2].append(data)


def parsed(html: str, attribute: str) -> Texts:
    parser = Texts(attribute)
    parser.feed(html)
    return parser

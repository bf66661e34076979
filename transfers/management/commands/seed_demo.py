"""Seed a demo: a team, its admin, a sandbox S3 endpoint with sample data, one profile.

Idempotent: every run converges on the same state, creating only what is missing (the sandbox
S3 server keeps objects in memory, so the sample objects are put back after each restart).
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.access import Role
from accounts.models import Membership, Team, User
from accounts.services import add_member, create_team, create_user, update_user
from transfers.demo import (
    ARCHIVE_BUCKET,
    DEMO_ACCESS_KEY,
    DEMO_PROFILE_NAME,
    DEMO_SECRET_KEY,
    DEMO_TEAM_NAME,
    DEMO_USERNAME,
    SOURCE_BUCKET,
)
from transfers.models import Endpoint, SyncProfile
from transfers.services import create_endpoint, create_profile, update_endpoint


def sample_objects() -> dict[str, dict[str, bytes]]:
    """Deterministic sample data: ~300 objects of assorted sizes across two buckets."""
    rng = random.Random(20261125)  # noqa: S311 - sample data, not security
    source: dict[str, bytes] = {}
    for day in range(1, 31):
        for n in range(5):
            rows = "\n".join(
                f"{day},{n},{i},{rng.randint(0, 10**6)}" for i in range(rng.randint(20, 400))
            )
            source[f"reports/2026/11/{day:02d}/report-{n}.csv"] = (
                f"day,batch,row,value\n{rows}\n".encode()
            )
    for n in range(80):
        source[f"images/img-{n:03d}.bin"] = rng.randbytes(rng.randint(4 * 1024, 96 * 1024))
    for n in range(30):
        day = 1 + n % 28
        source[f"logs/app-{n:02d}.log"] = "".join(
            f"2026-11-{day:02d}T00:{i % 60:02d}:00Z INFO served in {rng.randint(1, 900)}ms\n"
            for i in range(rng.randint(50, 600))
        ).encode()
    archive = {
        f"archive/2025/{month:02d}/summary-{n}.json": (
            f'{{"month": {month}, "part": {n}, "checksum": "'
            f'{hashlib.sha256(f"{month}-{n}".encode()).hexdigest()}"}}\n'
        ).encode()
        for month in range(1, 13)
        for n in range(5)
    }
    return {SOURCE_BUCKET: source, ARCHIVE_BUCKET: archive}


class Command(BaseCommand):
    help = "Create (or complete) the demo team, admin, sandbox endpoint, sample data and profile."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--s3-url",
            default=os.environ.get("SANDBOX_S3_URL", ""),
            help="URL of the sandbox S3 server (default: $SANDBOX_S3_URL).",
        )
        parser.add_argument(
            "--login-file",
            default=str(settings.VAR_DIR / "demo-login.txt"),
            help="Where to write the demo admin's login when the account is created.",
        )

    def handle(self, *args, s3_url: str, login_file: str, **options) -> None:
        if not s3_url:
            raise CommandError("Give the sandbox S3 server with --s3-url or SANDBOX_S3_URL.")
        # Through the services, as a person would do it, so the audit trail starts with the
        # demo's own creation. A second run finds everything and changes nothing.
        with transaction.atomic():
            admin, password = self._admin()
            team = Team.objects.filter(slug="demo").first() or create_team(
                name=DEMO_TEAM_NAME, slug="demo", actor=admin
            )
            if not Membership.objects.filter(user=admin, team=team).exists():
                add_member(team, admin, Role.ADMIN, actor=admin)
            endpoint = self._endpoint(team, s3_url, admin)
            profile = SyncProfile.objects.filter(team=team, name=DEMO_PROFILE_NAME).first()
            created = profile is None
            if created:
                profile = create_profile(
                    team,
                    actor=admin,
                    name=DEMO_PROFILE_NAME,
                    description="Keeps a copy of the demo source bucket in the archive bucket.",
                    source_endpoint=endpoint,
                    source_bucket=SOURCE_BUCKET,
                    destination_endpoint=endpoint,
                    destination_bucket=ARCHIVE_BUCKET,
                    destination_prefix="mirror/",
                    mode=SyncProfile.Mode.SYNC,
                )
        uploaded = self._upload(endpoint)
        if password:
            path = Path(login_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{DEMO_USERNAME} / {password}\n")
            path.chmod(0o600)
            self.stdout.write(f"Created demo admin: {DEMO_USERNAME} / {password}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: team '{team}', endpoint '{endpoint}', profile '{profile}'"
                f"{' (new)' if created else ''}; {uploaded} sample objects uploaded."
            )
        )

    def _admin(self) -> tuple[User, str | None]:
        admin = User.objects.filter(username=DEMO_USERNAME).first()
        if admin is not None:
            return admin, None
        password = secrets.token_urlsafe(12)
        admin = create_user(DEMO_USERNAME, email="admin@example.com", password=password)
        admin = update_user(admin, actor=admin, is_staff=True, is_superuser=True)
        return admin, password

    def _endpoint(self, team: Team, s3_url: str, admin: User) -> Endpoint:
        endpoint = Endpoint.objects.filter(team=team, name="Sandbox S3").first()
        if endpoint is None:
            return create_endpoint(
                team,
                actor=admin,
                name="Sandbox S3",
                url=s3_url,
                region="us-east-1",
                addressing_style=Endpoint.Addressing.PATH,
                access_key_id=DEMO_ACCESS_KEY,
                secret_access_key=DEMO_SECRET_KEY,
            )
        if endpoint.url != s3_url:  # the sandbox may come up on another port
            endpoint = update_endpoint(endpoint, actor=admin, url=s3_url)
        return endpoint

    def _upload(self, endpoint: Endpoint) -> int:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint.url,
            region_name=endpoint.region,
            aws_access_key_id=endpoint.access_key_id,
            aws_secret_access_key=endpoint.secret_access_key.reveal(),
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )
        uploaded = 0
        try:
            for bucket, objects in sample_objects().items():
                try:
                    client.head_bucket(Bucket=bucket)
                except ClientError:
                    client.create_bucket(Bucket=bucket)
                existing = set()
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                    existing.update(item["Key"] for item in page.get("Contents", []))
                for key, body in objects.items():
                    if key not in existing:
                        client.put_object(Bucket=bucket, Key=key, Body=body)
                        uploaded += 1
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(
                f"Could not seed the sandbox S3 server at {endpoint.url}: {exc}"
            ) from exc
        return uploaded

"""Rebuild the beat entries of every profile from its schedule.

The profile services keep them in step; this repairs what happened behind their back (entries
removed in the admin, a database restored from before a change). Safe to run at any time.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from transfers.cron import parse
from transfers.engine.errors import InvalidValue
from transfers.models import SyncProfile
from transfers.services.schedules import TASK, remove_periodic_task, sync_periodic_task


class Command(BaseCommand):
    help = "Create, repair or remove the beat entries of all profiles to match their schedules."

    def handle(self, *args, **options) -> None:
        scheduled = 0
        with transaction.atomic():
            for profile in SyncProfile.objects.select_related("team", "periodic_task"):
                if profile.schedule:
                    try:
                        parse(profile.schedule)
                    except InvalidValue as exc:
                        self.stderr.write(
                            f"{profile.team.slug}/{profile.name}: schedule "
                            f"{profile.schedule!r} is not valid and does not run: {exc}"
                        )
                if sync_periodic_task(profile) is not None:
                    scheduled += 1
            linked = SyncProfile.objects.filter(periodic_task__isnull=False)
            strays = PeriodicTask.objects.filter(task=TASK).exclude(
                pk__in=linked.values("periodic_task")
            )
            removed = 0
            for task in strays:
                remove_periodic_task(task)
                removed += 1
        self.stdout.write(f"{scheduled} scheduled profile(s); {removed} stray entr(y/ies) removed.")

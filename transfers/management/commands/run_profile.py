"""Run (or preview) a sync profile from the command line, e.g. the demo's:

manage.py run_profile "Demo: source to archive" --wait
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from transfers import services
from transfers.errors import Conflict, Unavailable
from transfers.management.commands._jobs import actor_for, follow
from transfers.models import Job, SyncProfile


class Command(BaseCommand):
    help = "Start a job of a profile (by id or name); --preview shows the plan instead."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("profile", help="Profile id or name.")
        parser.add_argument("--team", help="Team slug, when the name is not unique.")
        parser.add_argument("--user", help="Username to act as (audited); default: system.")
        parser.add_argument("--preview", action="store_true", help="Show the plan; move nothing.")
        parser.add_argument("--wait", action="store_true", help="Follow the job until it ends.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to --wait.")
        parser.add_argument("--idempotency-key", default=None)

    def handle(self, *args, profile: str, team: str | None, user: str | None, **options):
        actor = actor_for(user)
        target = self._profile(profile, team, actor)
        try:
            if options["preview"]:
                self._preview(target)
                return
            job = services.start_job(
                target,
                actor=actor,
                trigger=Job.Trigger.MANUAL,
                idempotency_key=options["idempotency_key"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except (Conflict, Unavailable) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Started job #{job.pk} of {target.name} ({target.team}).")
        if not options["wait"]:
            return
        job = follow(job, self.stdout.write, timeout=options["timeout"])
        if job.state == Job.State.SUCCEEDED:
            self.stdout.write(self.style.SUCCESS(f"Job #{job.pk} succeeded."))
            return
        if job.state == Job.State.AWAITING_APPROVAL:
            raise CommandError(f"{job.error} Approve it with: manage.py job approve {job.pk}")
        raise CommandError(f"Job #{job.pk} {job.state}: {job.error}")

    def _profile(self, ref: str, team: str | None, actor) -> SyncProfile:
        profiles = SyncProfile.objects.select_related("team")
        if actor is not None:
            profiles = profiles.operable_by(actor)
        if team:
            profiles = profiles.filter(team__slug=team)
        found = list(profiles.filter(pk=int(ref)) if ref.isdigit() else profiles.filter(name=ref))
        if not found:
            raise CommandError(f"No profile {ref!r}" + (f" in team {team}" if team else "") + ".")
        if len(found) > 1:
            raise CommandError(f"Several teams have a profile {ref!r}: give --team.")
        return found[0]

    def _preview(self, profile: SyncProfile) -> None:
        plan = services.preview_profile(profile)
        write = self.stdout.write
        write(f"Plan of {profile.name} ({plan.route}, {plan.mode}):")
        write(f"  copy      {plan.objects_to_copy} objects, {plan.bytes_to_copy} bytes")
        write(f"  delete    {plan.objects_to_delete} objects")
        write(f"  unchanged {plan.objects_unchanged} objects")
        if plan.objects_rejected:
            write(f"  refused   {plan.objects_rejected} objects")
        for key in plan.sample_to_copy:
            write(f"  + {key}")
        for key in plan.sample_to_delete:
            write(f"  - {key}")

"""Look at and act on a job: show, cancel, approve (a paused mirror's deletes), retry."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from transfers import services
from transfers.errors import Conflict
from transfers.management.commands._jobs import actor_for, describe, follow
from transfers.models import Job


class Command(BaseCommand):
    help = "show | cancel | approve | retry [--all] a job by id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["show", "cancel", "approve", "retry"])
        parser.add_argument("job_id", type=int)
        parser.add_argument("--user", help="Username to act as (audited); default: system.")
        parser.add_argument("--all", action="store_true", help="retry: the whole profile.")
        parser.add_argument("--wait", action="store_true", help="Follow the resulting job.")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, action: str, job_id: int, user: str | None, **options):
        actor = actor_for(user)
        jobs = Job.objects.select_related("team")
        if actor is not None:
            jobs = jobs.visible_to(actor) if action == "show" else jobs.operable_by(actor)
        job = jobs.filter(pk=job_id).first()
        if job is None:
            raise CommandError(f"No job #{job_id}.")
        try:
            if action == "cancel":
                job = services.cancel_job(job, actor=actor)
            elif action == "approve":
                job = services.approve_job(job, actor=actor)
            elif action == "retry":
                job = services.retry_job(job, actor=actor, failed_only=not options["all"])
                self.stdout.write(f"Started job #{job.pk}, a retry of #{job_id}.")
        except Conflict as exc:
            raise CommandError(str(exc)) from None
        if options["wait"] and action != "show":
            job = follow(job, self.stdout.write, timeout=options["timeout"])
        self.stdout.write(describe(job))
        if job.error:
            self.stdout.write(job.error)
        if action == "show":
            for failure in job.failures.all()[:20]:
                self.stdout.write(f"  {failure.operation} {failure.key}: {failure.error}")

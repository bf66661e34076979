from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.models import Membership
from transfers import manifests
from transfers.models import Job, JobManifest, SyncProfile


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    jobs = Job.objects.visible_to(request.user).select_related("team")
    last_job = Job.objects.filter(profile=OuterRef("pk")).order_by("-created_at", "-id")
    profiles = (
        SyncProfile.objects.visible_to(request.user)
        .select_related("team", "source_endpoint", "destination_endpoint")
        .annotate(
            last_state=Subquery(last_job.values("state")[:1]),
            last_run_at=Subquery(last_job.values("created_at")[:1]),
        )
    )
    context = {
        "memberships": Membership.objects.filter(user=request.user).select_related("team"),
        "active_jobs": jobs.active()[:20],
        "recent_jobs": jobs[:10],
        "profiles": profiles[:50],
    }
    return render(request, "transfers/dashboard.html", context)


@login_required
def job_manifest(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's manifest as a JSON Lines download; 404 outside the user's teams."""
    manifest = get_object_or_404(JobManifest.objects.visible_to(request.user), job_id=job_id)
    return manifests.download(manifest)

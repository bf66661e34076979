"""Every security- or data-relevant action writes exactly one audit event, with who (actor),
what (action, target), which team, and where from (IP, user agent, request id), done the way
people do it: through the pages and the API."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, Membership, User
from tests.accounts.test_totp import fresh_window
from tests.support import enrol_totp, totp_code
from transfers.engine import Outcome, Result
from transfers.execution import claim, finish
from transfers.models import Endpoint, Job, SyncProfile

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
IP, AGENT = "198.51.100.7", "Mozilla/5.0 (audit tests)"


@dataclass
class Where:
    """Request metadata every call of a test sends, and the event must carry."""

    request_id: str

    def meta(self) -> dict:
        return {"REMOTE_ADDR": IP, "HTTP_USER_AGENT": AGENT, "HTTP_X_REQUEST_ID": self.request_id}


@pytest.fixture
def where():
    return Where("req-audit-0000-0001")


@pytest.fixture
def capture():
    """capture(action) -> the one event of `action` written since the last call."""
    state = {"last": AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0}

    def only(action: str) -> AuditEvent:
        new = list(AuditEvent.objects.filter(id__gt=state["last"]).order_by("id"))
        state["last"] = new[-1].pk if new else state["last"]
        matching = [event for event in new if event.action == action]
        assert len(matching) == 1, [event.action for event in new]
        return matching[0]

    return only


def check(event: AuditEvent, *, actor, target, team, where: Where) -> None:
    assert (event.actor, event.actor_label) == (actor, str(actor) if actor else "")
    assert (event.target_type, event.target_id) == (target._meta.label_lower, str(target.pk))
    assert event.team == team
    assert (event.ip, event.user_agent, event.request_id) == (IP, AGENT, where.request_id)
    assert event.created_at.tzinfo is not None
    assert abs((timezone.now() - event.created_at).total_seconds()) < 60


# --- Signing in and out, MFA, tokens (pages) --------------------------------------------------


def test_sign_in_sign_out_and_a_failure(client, viewer, where, capture):
    client.post("/accounts/login/", {"login": "vera", "password": "wrong"}, **where.meta())
    failed = capture("login.failed")
    assert failed.actor is None and failed.details["login"] == "vera"
    assert (failed.ip, failed.user_agent, failed.request_id) == (IP, AGENT, where.request_id)

    client.post("/accounts/login/", {"login": "vera", "password": PASSWORD}, **where.meta())
    check(capture("login.succeeded"), actor=viewer, target=viewer, team=None, where=where)

    client.post("/accounts/logout/", **where.meta())
    check(capture("logout"), actor=viewer, target=viewer, team=None, where=where)


def test_mfa_enrolment_and_removal(
    client, viewer, where, capture, django_capture_on_commit_callbacks
):
    client.post("/accounts/login/", {"login": "vera", "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    secret = client.get("/accounts/2fa/totp/activate/").context["form"].secret
    fresh_window()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)}, **where.meta())
    event = capture("mfa.enrolled")
    check(event, actor=viewer, target=viewer, team=None, where=where)
    assert event.details == {"type": "totp"}
    assert secret not in str(event.details)

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/2fa/totp/deactivate/", **where.meta())
    check(capture("mfa.removed"), actor=viewer, target=viewer, team=None, where=where)


def test_token_creation_and_revocation(client, viewer, team, where, capture):
    client.post("/accounts/login/", {"login": "vera", "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    form = {"name": "ci", "scope": "read", "teams": [team.pk], "expires_in_days": 7}
    secret = client.post("/tokens/new/", form, **where.meta()).context["secret"]
    token = ApiToken.objects.get()
    created = capture("token.created")
    check(created, actor=viewer, target=token, team=None, where=where)
    assert secret not in str(created.details) and token.digest not in str(created.details)

    client.post(f"/tokens/{token.pk}/revoke/", **where.meta())
    check(capture("token.revoked"), actor=viewer, target=token, team=None, where=where)
    client.post(f"/tokens/{token.pk}/revoke/", **where.meta())  # again: nothing new happens
    assert not AuditEvent.objects.filter(action="token.revoked").exclude(pk=created.pk).count() > 1


# --- Through the API --------------------------------------------------------------------------


@pytest.fixture
def api(api_as, owner, where):
    """The team admin's API caller, sending the test's request metadata."""
    caller = api_as(owner)

    def call(method: str, path: str, json=None):
        extra = {**where.meta(), "HTTP_AUTHORIZATION": f"Bearer {caller.secret}"}
        body = {"data": "" if json is None else json, "content_type": "application/json"}
        return getattr(caller.client, method)(f"/api/v1{path}", **body, **extra)

    return call


def test_membership_changes(api, owner, team, where, capture):
    newcomer = User.objects.create_user("nina", "nina@example.com", PASSWORD)
    assert api("post", f"/teams/{team.pk}/members", {"username": "nina"}).status_code == 201
    added = capture("member.added")
    check(added, actor=owner, target=newcomer, team=team, where=where)
    assert added.details["role"] == "viewer"

    api("patch", f"/teams/{team.pk}/members/{newcomer.pk}", {"role": "operator"})
    changed = capture("member.role_changed")
    check(changed, actor=owner, target=newcomer, team=team, where=where)
    assert (changed.details["from"], changed.details["to"]) == ("viewer", "operator")

    assert api("delete", f"/teams/{team.pk}/members/{newcomer.pk}").status_code == 204
    check(capture("member.removed"), actor=owner, target=newcomer, team=team, where=where)
    assert not Membership.objects.filter(user=newcomer).exists()


def test_endpoint_lifecycle(api, owner, team, where, capture):
    secret = "very-secret-key-0123456789"
    body = {"team_id": team.pk, "name": "s3", "access_key_id": "AKIA", "secret_access_key": secret}
    endpoint = Endpoint.objects.get(pk=api("post", "/endpoints", body).json()["id"])
    created = capture("endpoint.created")
    check(created, actor=owner, target=endpoint, team=team, where=where)

    api("patch", f"/endpoints/{endpoint.pk}", {"name": "primary"})
    updated = capture("endpoint.updated")
    check(updated, actor=owner, target=endpoint, team=team, where=where)
    assert (
        updated.details["before"]["name"] == "s3" and updated.details["after"]["name"] == "primary"
    )

    api("put", f"/endpoints/{endpoint.pk}/credentials", {"secret_access_key": "rotated-0123456789"})
    rotated = capture("endpoint.secret_rotated")
    check(rotated, actor=owner, target=endpoint, team=team, where=where)

    api("delete", f"/endpoints/{endpoint.pk}")
    check(capture("endpoint.deleted"), actor=owner, target=endpoint, team=team, where=where)
    trail = str(list(AuditEvent.objects.values_list("details", flat=True)))
    assert secret not in trail and "rotated-0123456789" not in trail


def test_profile_lifecycle_with_before_and_after(api, owner, team, where, capture):
    endpoint = Endpoint.objects.create(
        team=team, name="s3", access_key_id="AKIA", secret_access_key="s3cr3t-value"
    )
    body = {
        "team_id": team.pk,
        "name": "nightly",
        "source_endpoint": endpoint.pk,
        "source_bucket": "in-bucket",
        "destination_endpoint": endpoint.pk,
        "destination_bucket": "out-bucket",
    }
    profile = SyncProfile.objects.get(pk=api("post", "/profiles", body).json()["id"])
    created = capture("profile.created")
    check(created, actor=owner, target=profile, team=team, where=where)
    assert created.details["after"]["source_endpoint"] == endpoint.pk

    api("patch", f"/profiles/{profile.pk}", {"workers": 8, "name": "nightly"})
    updated = capture("profile.updated")
    check(updated, actor=owner, target=profile, team=team, where=where)
    assert (updated.details["before"], updated.details["after"]) == (
        {"workers": 64},
        {"workers": 8},
    )

    api("delete", f"/profiles/{profile.pk}")
    deleted = capture("profile.deleted")
    check(deleted, actor=owner, target=profile, team=team, where=where)
    assert deleted.details["before"]["workers"] == 8
    assert "s3cr3t-value" not in str(list(AuditEvent.objects.values_list("details", flat=True)))


def test_job_run_cancel_retry_approve_and_completion(
    api, owner, team, where, capture, offline_profile
):
    profile = offline_profile
    response = api("post", f"/profiles/{profile.pk}/run")
    job = Job.objects.get(pk=response.json()["id"])
    started = capture("job.started")
    check(started, actor=owner, target=job, team=team, where=where)
    assert started.details["trigger"] == "api"

    api("post", f"/jobs/{job.pk}/cancel")
    check(capture("job.cancelled"), actor=owner, target=job, team=team, where=where)

    retry = Job.objects.get(pk=api("post", f"/jobs/{job.pk}/retry").json()["id"])
    retried = capture("job.retried")
    check(retried, actor=owner, target=retry, team=team, where=where)
    assert retried.details["retry_of"] == job.pk

    Job.objects.filter(pk=retry.pk).update(state="awaiting_approval")
    api("post", f"/jobs/{retry.pk}/approve")
    check(capture("job.approved"), actor=owner, target=retry, team=team, where=where)

    # A worker finishes the run: a summary with the manifest's hash, and no request.
    assert claim(retry.pk, "worker-1") is not None
    finish(retry, "worker-1", Result(outcome=Outcome.FAILED, error="Cannot reach the endpoint"))
    finished = capture("job.finished")
    assert (finished.actor, finished.target_id, finished.team) == (None, str(retry.pk), team)
    assert (finished.ip, finished.request_id) == (None, "")
    assert finished.details["state"] == "failed"
    assert finished.details["error"] == "Cannot reach the endpoint"
    assert finished.details["manifest"]["lines"] == 0
    assert len(finished.details["manifest"]["sha256"]) == 64


def test_every_api_event_names_the_token(api, api_as, owner, team, capture):
    api("post", f"/teams/{team.pk}/members", {"username": "vera"})  # already a member: 409
    assert not AuditEvent.objects.filter(action="member.added").exists()
    token = ApiToken.objects.filter(user=owner).latest("id")
    newcomer = User.objects.create_user("nina", "nina@example.com", PASSWORD)
    api("post", f"/teams/{team.pk}/members", {"username": newcomer.username})
    event = capture("member.added")
    assert event.details["api_token"] == {"id": token.pk, "prefix": token.prefix}


def test_superusers_and_the_system_are_recorded_too(client, team, capture):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    enrol_totp(root)
    client.force_login(root)
    where = Where("req-root-0001")
    client.post("/teams/new/", {"name": "Research"}, **where.meta())
    event = capture("team.created")
    assert (event.actor, event.request_id, event.ip) == (root, where.request_id, IP)

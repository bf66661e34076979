"""The admin site: an inspection tool whose few writes go through the same services as the pages.

Every request goes through the real admin URLs with Django's test client, signed in as a
superuser who has enrolled MFA (as the policy demands of superusers).
"""

from __future__ import annotations

import json

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import AuditEvent, Membership, User
from accounts.services import create_api_token
from tests.support import enrol_totp
from transfers import services
from transfers.models import (
    Delivery,
    Endpoint,
    Job,
    JobFailure,
    JobSample,
    SkippedRun,
)

PASSWORD = "correct horse battery"
WEBHOOK_PATH_TOKEN = "T0KEN-in-the-webhook-path-5f1d2c"


@pytest.fixture
def superuser(db):
    user = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    enrol_totp(user)
    return user


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def url(obj_or_model, view: str, *args) -> str:
    meta = obj_or_model._meta
    if not args and view in ("change", "delete", "history"):
        args = (obj_or_model.pk,)
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def change_form_data(obj, user, **overrides) -> dict:
    """What the admin's change form of `obj` would post back unchanged, with `overrides`."""
    request = RequestFactory().get("/")
    request.user = user
    model_admin = admin.site._registry[type(obj)]
    form = model_admin.get_form(request, obj, change=True)(instance=obj)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
            continue
        if isinstance(field, forms.JSONField):
            value = field.prepare_value(value)
        if isinstance(field.widget, forms.MultiWidget):  # split date and time
            parts = field.widget.decompress(value)
            for i, (widget, part) in enumerate(zip(field.widget.widgets, parts, strict=True)):
                data[f"{name}_{i}"] = widget.format_value(part) or ""
            continue
        data[name] = "" if value is None else value
    for name, value in overrides.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = "on" if value is True else value
    return data


# --- Domain objects with services are not changed behind the services' back -----------------


def test_it_refuses_to_attach_another_teams_endpoint_to_a_profile(
    admin_client, superuser, offline_profile, outsider, other_team, client
):
    theirs = Endpoint.objects.create(
        team=other_team, name="finance-s3", access_key_id="AKIAB", secret_access_key="b-secret"
    )
    data = change_form_data(offline_profile, superuser, source_endpoint=theirs.pk)

    response = admin_client.post(url(offline_profile, "change"), data)

    assert response.status_code == 403
    offline_profile.refresh_from_db()
    assert offline_profile.source_endpoint_id != theirs.pk
    client.force_login(outsider)
    enrol_totp(outsider)
    page = client.get(reverse("endpoint_detail", args=[theirs.pk]))
    assert page.status_code == 200
    assert offline_profile.name not in page.content.decode()


def test_it_links_a_profile_to_its_portal_page(admin_client, offline_profile):
    page = admin_client.get(url(offline_profile, "change")).content.decode()

    assert f'href="{offline_profile.get_absolute_url()}"' in page


@pytest.mark.parametrize(
    "name",
    [
        "endpoint",
        "profile",
        "job",
        "sample",
        "failure",
        "notification",
        "delivery",
        "skipped",
        "membership",
        "team",
        "token",
        "event",
        "periodic_task",
        "crontab",
    ],
)
def test_it_refuses_changes_and_deletes_that_services_own(admin_client, superuser, world, name):
    obj = world[name]
    before = AuditEvent.objects.count()

    changed = admin_client.post(url(obj, "change"), change_form_data(obj, superuser))
    deleted = admin_client.post(url(obj, "delete"), {"post": "yes"})
    bulk = admin_client.post(
        url(obj, "changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [obj.pk], "post": "yes"},
    )

    assert changed.status_code == 403
    assert deleted.status_code == 403
    assert bulk.status_code in (200, 302, 403)  # no such action, or "you may not"
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert AuditEvent.objects.count() == before


def test_it_keeps_profile_schedules_out_of_bulk_switches(admin_client, world):
    task = world["periodic_task"]

    admin_client.post(
        url(task, "changelist"), {"action": "disable_tasks", ACTION_CHECKBOX_NAME: [task.pk]}
    )

    task.refresh_from_db()
    assert task.enabled is True


def test_it_cancels_a_job_through_the_service(admin_client, superuser, offline_profile, team):
    job = Job.objects.create(team=team, profile=offline_profile, profile_name="nightly")

    admin_client.post(url(job, "changelist"), {"action": "cancel", ACTION_CHECKBOX_NAME: [job.pk]})

    job.refresh_from_db()
    assert job.state == "cancelled"
    assert AuditEvent.objects.filter(action="job.cancelled", actor=superuser).count() == 1


# --- Memberships --------------------------------------------------------------------------


def test_it_cannot_demote_the_last_admin_in_the_admin(admin_client, superuser, owner, team):
    membership = Membership.objects.get(user=owner, team=team)

    changed = admin_client.post(
        url(membership, "change"), change_form_data(membership, superuser, role="viewer")
    )
    inline = admin_client.post(
        url(team, "change"),
        {
            "name": team.name,
            "slug": team.slug,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": membership.pk,
            "memberships-0-team": team.pk,
            "memberships-0-user": owner.pk,
            "memberships-0-role": "viewer",
            "memberships-0-DELETE": "on",
        },
    )

    assert changed.status_code == 403
    assert inline.status_code == 403
    membership.refresh_from_db()
    assert membership.role == "admin"
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


def test_it_links_a_team_to_its_members_page(admin_client, team):
    page = admin_client.get(url(team, "change")).content.decode()

    assert f'href="{reverse("team_detail", args=[team.slug])}"' in page


# --- Users: the writes that stay in the admin go through the services ----------------------


def test_it_deactivates_a_user_through_the_service(admin_client, superuser, viewer):
    response = admin_client.post(
        url(viewer, "change"), change_form_data(viewer, superuser, is_active=False)
    )

    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.is_active is False
    event = AuditEvent.objects.get(action="user.deactivated")
    assert (event.actor, event.target_id) == (superuser, str(viewer.pk))


# Transactional: the socket re-reads the user from its own database thread after the commit,
# which a test wrapped in one atomic block (the default) cannot give it on PostgreSQL.
@pytest.mark.django_db(transaction=True)
def test_it_closes_the_open_sockets_of_a_user_deactivated_in_the_admin(
    admin_client, superuser, viewer, django_capture_on_commit_callbacks
):
    from syncportal.asgi import application

    viewer_client = Client()
    viewer_client.force_login(viewer)
    headers = [
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
        (b"cookie", f"sessionid={viewer_client.cookies['sessionid'].value}".encode()),
    ]

    def deactivate():
        with django_capture_on_commit_callbacks(execute=True):
            data = change_form_data(viewer, superuser, is_active=False)
            assert admin_client.post(url(viewer, "change"), data).status_code == 302

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await sync_to_async(deactivate)()
        closed = await socket.receive_output(timeout=5)
        await socket.wait()
        return closed

    closed = async_to_sync(scenario)()

    assert closed == {"type": "websocket.close", "code": 4401}


def test_it_reactivates_a_user_through_the_service(admin_client, superuser, viewer):
    viewer.is_active = False
    viewer.save()

    admin_client.post(url(viewer, "change"), change_form_data(viewer, superuser, is_active=True))

    viewer.refresh_from_db()
    assert viewer.is_active is True
    assert AuditEvent.objects.filter(action="user.reactivated", actor=superuser).count() == 1


def test_it_audits_granting_superuser(admin_client, superuser, viewer):
    admin_client.post(url(viewer, "change"), change_form_data(viewer, superuser, is_superuser=True))

    viewer.refresh_from_db()
    assert viewer.is_superuser is True
    event = AuditEvent.objects.get(action="user.updated")
    assert event.actor == superuser
    assert event.details == {"is_superuser": {"from": False, "to": True}}


def test_it_refuses_to_demote_or_deactivate_the_last_superuser(admin_client, superuser):
    page = url(superuser, "change")
    demoted = admin_client.post(
        page, change_form_data(superuser, superuser, is_superuser=False), follow=True
    )
    deactivated = admin_client.post(
        page, change_form_data(superuser, superuser, is_active=False), follow=True
    )

    for response in (demoted, deactivated):
        assert response.redirect_chain == [(page, 302)]
        assert "is the last active superuser" in response.content.decode()
    superuser.refresh_from_db()
    assert (superuser.is_superuser, superuser.is_active) == (True, True)
    assert not AuditEvent.objects.filter(action__startswith="user.").exists()


def test_it_audits_a_user_created_in_the_admin(admin_client, superuser):
    response = admin_client.post(
        url(User, "add"),
        {"username": "newcomer", "password1": "a long new passphrase", "usable_password": "true"}
        | {"password2": "a long new passphrase"},
    )

    assert response.status_code == 302
    newcomer = User.objects.get(username="newcomer")
    assert newcomer.check_password("a long new passphrase")
    event = AuditEvent.objects.get(action="user.created")
    assert (event.actor, event.target_id) == (superuser, str(newcomer.pk))
    assert "a long new passphrase" not in json.dumps(event.details)


def test_it_audits_a_password_set_in_the_admin(admin_client, superuser, viewer):
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[viewer.pk]),
        {"password1": "another long passphrase", "password2": "another long passphrase"},
    )

    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.check_password("another long passphrase")
    event = AuditEvent.objects.get(action="user.password_set")
    assert (event.actor, event.target_id) == (superuser, str(viewer.pk))


def test_it_refuses_to_delete_users(admin_client, viewer):
    assert admin_client.post(url(viewer, "delete"), {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=viewer.pk).exists()


# --- Every page renders, and no page shows a secret -----------------------------------------


@pytest.fixture
def world(superuser, team, owner, offline_endpoint, offline_profile):
    """One object of each model the admin shows, several of them carrying secrets."""
    profile = services.update_profile(offline_profile, actor=owner, schedule="30 2 * * *")
    job = Job.objects.create(team=team, profile=profile, profile_name=profile.name)
    hook = services.add_notification(
        profile,
        actor=owner,
        channel="webhook",
        target=f"https://hooks.example.com/services/{WEBHOOK_PATH_TOKEN}",
        events=["job.failed"],
        secret="webhook-signing-secret-0123456789",
    )
    token, token_secret = create_api_token(
        owner, name="ci", scope="read", teams=[team], expires_in_days=30
    )
    app = SocialApp.objects.create(
        provider="openid_connect",
        name="Rogue IdP",
        client_id="client-id",
        secret="socialapp-client-secret-abc123",
    )
    account = SocialAccount.objects.create(user=owner, provider="openid_connect", uid="sub-1")
    SocialToken.objects.create(
        app=app, account=account, token="social-access-token-xyz789", token_secret="tok-sec-42"
    )
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    totp_secret = enrol_totp(owner)
    return {
        "team": team,
        "endpoint": offline_endpoint,
        "profile": profile,
        "job": job,
        "sample": JobSample.objects.create(job=job, t=timezone.now(), objects_done=1, bytes_done=2),
        "failure": JobFailure.objects.create(job=job, key="a.txt", operation="copy", error="x"),
        "skipped": SkippedRun.objects.create(team=team, profile=profile, reason="busy"),
        "notification": hook,
        "delivery": Delivery.objects.create(notification=hook, event="job.failed", payload={}),
        "membership": Membership.objects.get(user=owner, team=team),
        "token": token,
        "event": AuditEvent.objects.filter(action="profile.updated").get(),
        "periodic_task": PeriodicTask.objects.get(pk=profile.periodic_task_id),
        "crontab": CrontabSchedule.objects.get(pk=profile.periodic_task.crontab_id),
        "secrets": [
            "never-shown",  # the endpoint's secret access key (conftest)
            "webhook-signing-secret-0123456789",
            WEBHOOK_PATH_TOKEN,
            token_secret,
            token.digest,
            "socialapp-client-secret-abc123",
            "social-access-token-xyz789",
            "tok-sec-42",
            totp_secret,
            superuser.password,
            owner.password,
        ],
    }


def admin_pages(world) -> list[str]:
    """The changelist, and the add, change and delete pages of one object, of every model."""
    pages = []
    for model in admin.site._registry:
        pages.append(url(model, "changelist"))
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            pages += [url(obj, "change"), url(obj, "history")]
    return pages


def test_it_renders_every_admin_page(admin_client, world):
    for page in admin_pages(world):
        response = admin_client.get(page)
        assert response.status_code == 200, page


def test_it_shows_no_secret_on_any_admin_page(admin_client, world):
    assert Authenticator.objects.filter(user__username="alice").exists()
    pages = ["/admin/", *admin_pages(world)]
    for model, model_admin in admin.site._registry.items():
        obj = model._default_manager.order_by("pk").first()
        if obj is not None and model_admin.has_delete_permission(_request(world), obj):
            pages.append(url(obj, "delete"))

    for page in pages:
        body = admin_client.get(page).content.decode()
        for secret in world["secrets"]:
            assert secret not in body, (page, secret)


def _request(world):
    request = RequestFactory().get("/")
    request.user = User.objects.get(username="root")
    return request


def test_it_revokes_a_token_through_the_service(admin_client, superuser, world):
    token = world["token"]

    admin_client.post(
        url(token, "changelist"), {"action": "revoke", ACTION_CHECKBOX_NAME: [token.pk]}
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoked", actor=superuser).count() == 1


def test_it_removes_an_authenticator_through_the_service(admin_client, superuser, viewer):
    enrol_totp(viewer)
    authenticator = Authenticator.objects.get(user=viewer, type="totp")

    response = admin_client.post(url(authenticator, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=viewer).exists()
    event = AuditEvent.objects.get(action="mfa.removed")
    assert (event.actor, event.target_id) == (superuser, str(viewer.pk))

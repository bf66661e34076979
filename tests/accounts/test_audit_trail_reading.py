"""Reading the audit trail, through `/audit/`, its CSV export and the API: auditors and
superusers read every team's events, team admins their teams', everybody else nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import audit
from accounts.models import User
from syncportal import pagination
from tests.support import enrol_totp, pager_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(db):
    return User.objects.create_user("audrey", "audrey@example.com", "pw", is_auditor=True)


@pytest.fixture
def trail(team, other_team, owner, operator, outsider):
    """Events of our team, of the other team, and of no team (a sign-in)."""
    ours = [
        audit.record("profile.created", actor=operator, target=team, team=team),
        audit.record("job.started", actor=operator, target=team, team=team),
        audit.record(
            "job.cancelled",
            actor=owner,
            target=team,
            team=team,
            details={"note": '=HYPERLINK("http://evil")'},
        ),
    ]
    theirs = audit.record("job.started", actor=outsider, target=other_team, team=other_team)
    sign_in = audit.record("login.succeeded", actor=owner, target=owner)
    return {"ours": ours, "theirs": theirs, "sign_in": sign_in}


def listed(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [event["id"] for event in response.json()["items"]]


def actions_of(api, **query) -> list[str]:
    response = api.get("/audit", **query)
    assert response.status_code == 200, response.content
    return [event["action"] for event in response.json()["items"]]


# --- API --------------------------------------------------------------------------------------


def test_an_auditor_reads_every_event(api_as, auditor, team, other_team, trail):
    ids = listed(api_as(auditor, teams=[team, other_team]).get("/audit", action="job.*"))
    assert ids == [trail["theirs"].pk, trail["ours"][2].pk, trail["ours"][1].pk]


def test_a_superuser_session_reads_team_less_events_too(client, team, trail):
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    enrol_totp(root)
    client.force_login(root)
    actions = [e["action"] for e in client.get("/api/v1/audit").json()["items"]]
    assert "login.succeeded" in actions and actions.count("job.started") == 2


def test_a_team_admin_reads_their_teams_events_only(api_as, owner, trail):
    events = api_as(owner).get("/audit").json()["items"]
    assert {e["team_id"] for e in events} == {trail["ours"][0].team_id}
    assert "login.succeeded" not in {e["action"] for e in events}  # no team: auditors only


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_members_who_are_not_admins_read_nothing(api_as, request, trail, who):
    api = api_as(request.getfixturevalue(who))
    for path in ("/audit", "/audit/export", f"/audit/{trail['ours'][0].pk}"):
        response = api.get(path)
        assert response.status_code == 403, path
        assert "audit trail" in response.json()["detail"]


def test_anonymous_callers_are_refused(client, trail):
    assert client.get("/api/v1/audit").status_code == 401


def test_one_event_outside_your_teams_is_not_found(api_as, outsider, trail):
    api = api_as(outsider)
    assert api.get(f"/audit/{trail['theirs'].pk}").status_code == 200
    assert api.get(f"/audit/{trail['ours'][0].pk}").status_code == 404


def test_an_event_shows_everything_it_stores(api_as, owner, trail):
    event = trail["ours"][2]
    body = api_as(owner).get(f"/audit/{event.pk}").json()
    assert body | {"created_at": None} == {
        "id": event.pk,
        "created_at": None,
        "actor_id": owner.pk,
        "actor": "alice",
        "action": "job.cancelled",
        "target_type": "accounts.team",
        "target_id": str(event.team_id),
        "target_label": "Data Platform",
        "team_id": event.team_id,
        "ip": None,
        "user_agent": "",
        "request_id": "",
        "details": {"note": '=HYPERLINK("http://evil")'},
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def test_it_filters_by_actor_action_target_and_time(api_as, auditor, team, other_team, trail):
    api = api_as(auditor, teams=[team, other_team])
    assert actions_of(api, actor="OSCAR") == ["job.started", "profile.created"]
    assert actions_of(api, action="job.started", team=team.pk) == ["job.started"]
    assert actions_of(api, target_type="accounts.team", target_id=str(other_team.pk)) == [
        "job.started"
    ]
    future = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert actions_of(api, created_after=future) == []
    assert len(actions_of(api, created_before=future)) == 4
    assert api.get("/audit", actor="nul\x00byte").status_code == 422


def test_a_cursor_pages_through_the_trail(api_as, auditor, team, other_team, trail):
    api = api_as(auditor, teams=[team, other_team])
    first = api.get("/audit", limit=2, action="j*").json()
    assert first["count"] == 3 and len(first["items"]) == 2
    rest = api.get("/audit", limit=2, action="j*", cursor=first["next_cursor"]).json()
    assert [e["id"] for e in rest["items"]] == [trail["ours"][1].pk]
    assert rest["next_cursor"] is None


def test_the_api_exports_the_filtered_trail_as_csv(api_as, owner, trail):
    response = api_as(owner).get("/audit/export", action="job.*")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["job.cancelled", "job.started"]
    assert rows[0]["actor"] == "alice" and rows[0]["team"] == "Data Platform"
    assert rows[0]["hash"] == trail["ours"][2].hash


def test_csv_cells_cannot_smuggle_spreadsheet_formulas(api_as, owner, team, trail):
    audit.record(
        "login.failed",
        team=team,
        details={},
        context=audit.RequestContext(user_agent="=cmd|' /C calc'!A0"),
    )
    response = api_as(owner).get("/audit/export", action="login.failed")
    row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert row["user_agent"] == "'=cmd|' /C calc'!A0"


# --- The page ---------------------------------------------------------------------------------


def test_the_page_shows_a_team_admin_their_teams_events(client, owner, trail):
    client.force_login(owner)
    enrol_totp(owner)
    response = client.get("/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "job.cancelled" in html and "profile.created" in html
    assert "login.succeeded" not in html  # not tied to a team
    assert 'href="/audit/"' in html and 'aria-current="page">Audit' in html
    times = re.findall(r"<time [^>]*data-local[^>]*>", html)
    assert len(times) == 3 and all("UTC" in t for t in times)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script (CSP)
    assert 'style="' not in html


def test_the_page_filters_and_exports_what_it_shows(client, owner, trail):
    enrol_totp(owner)
    client.force_login(owner)
    html = client.get("/audit/", {"action": "job.*", "actor": "alice"}).content.decode()
    assert "job.cancelled" in html and "job.started" not in html
    assert "/audit/export.csv?action=job.%2A&amp;actor=alice" in html
    export = client.get("/audit/export.csv", {"action": "job.*", "actor": "alice"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["job.cancelled"]
    assert rows[0]["details"] == '{"note": "=HYPERLINK(\\"http://evil\\")"}'


def test_the_page_pages(client, owner, team, monkeypatch):
    # Counted exactly, whatever the planner guesses of a table earlier tests wrote to.
    monkeypatch.setattr(pagination, "EXACT_COUNT_BELOW", 10**9)
    enrol_totp(owner)
    for n in range(60):
        audit.record("job.started", actor=owner, target=team, team=team, details={"n": n})
    client.force_login(owner)
    first = client.get("/audit/").content.decode()
    assert "60 events, newest first" in first and first.count("<time ") == 50

    def numbers(page: str) -> set[int]:
        return {int(n) for n in re.findall(r"&quot;n&quot;: (\d+)", page)}

    assert numbers(first) == set(range(10, 60))
    second = client.get("/audit/" + pager_link(first, "next")).content.decode()
    assert second.count("<time ") == 10 and numbers(second) == set(range(10))
    assert pager_link(second, "next") is None and pager_link(second, "first") == "?"


def test_the_page_takes_the_same_queries_for_more_events(
    client, owner, team, django_assert_num_queries
):
    enrol_totp(owner)
    client.force_login(owner)
    client.get("/audit/")

    def render_with(count: int) -> None:
        for _ in range(count):
            audit.record("job.started", actor=owner, target=team, team=team)
        # No session write: a page pushes the idle deadline back at most once a minute; the
        # MFA policy and the Audit link share the request's read of the memberships; a list
        # that fits its page is not counted.
        with django_assert_num_queries(6):
            assert client.get("/audit/").status_code == 200

    render_with(2)
    render_with(20)


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_the_page_is_forbidden_to_members_who_are_not_admins(client, request, trail, who):
    user = request.getfixturevalue(who)
    enrol_totp(user)
    client.force_login(user)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert 'href="/audit/"' not in client.get("/teams/").content.decode()


def test_an_auditor_filters_by_any_team(client, auditor, other_team, trail):
    client.force_login(auditor)
    html = client.get("/audit/", {"team": other_team.pk}).content.decode()
    assert html.count("<time ") == 1 and "Finance" in html

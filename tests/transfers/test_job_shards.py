"""A sharded job's shards, as people and clients see them: the API lists them in key order a
page at a time and counts them by state on the job; the job page has a Shards card (counts,
the hosts running them, one cell per shard or per run of shards) that reads a bounded number of
rows however many shards there are; the jobs list tags sharded jobs. Members of the team read
them; anyone else gets a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.transfers.pages import Texts, endpoint, finished_job, profile, signed_in
from transfers import shard_status
from transfers.models import Job, JobShard

pytestmark = pytest.mark.django_db

STATES = ["succeeded", "succeeded", "running", "running", "running", "queued", "pending", "failed"]
WORKERS = {2: "worker-a:101:x1", 3: "worker-a:102:x2", 4: "worker-b:7:y1"}


def make_shards(job: Job, states: list[str], workers: dict[int, str] | None = None) -> None:
    """Shards of `job` in key order, `k0000`..., as the backend leaves them."""
    workers = workers or {}
    now = timezone.now()
    JobShard.objects.bulk_create(
        JobShard(
            job=job,
            seq=seq,
            after_key="" if seq == 0 else f"k{seq:04}",
            upto_key=None if seq == len(states) - 1 else f"k{seq + 1:04}",
            state=state,
            planned_objects=100,
            planned_bytes=100 << 20,
            objects_total=100 if state != "pending" else None,
            objects_done=100 if state == "succeeded" else 40 if state == "running" else 0,
            objects_failed=3 if state == "failed" else 0,
            attempts=0 if state in ("pending", "queued") else 1 + (state == "failed"),
            worker=workers.get(seq, "" if state in ("pending", "queued") else "worker-c:1:z"),
            started_at=None if state in ("pending", "queued") else now - timedelta(seconds=9),
            finished_at=now if state in ("succeeded", "failed") else None,
            error="AccessDenied on 3 objects" if state == "failed" else "",
        )
        for seq, state in enumerate(states)
    )


@pytest.fixture
def running(team):
    nightly = profile(team, endpoint(team))
    job = finished_job(nightly, Job.State.RUNNING, finished_at=None, objects_total=800)
    make_shards(job, STATES, WORKERS)
    return job


# --- The API ----------------------------------------------------------------------------------


def test_it_lists_a_jobs_shards_in_key_order(api_as, viewer, running):
    response = api_as(viewer).get(f"/jobs/{running.pk}/shards")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(STATES) and body["next_cursor"] is None
    assert [item["seq"] for item in body["items"]] == list(range(len(STATES)))
    first, third, last = body["items"][0], body["items"][2], body["items"][-1]
    assert (first["after_key"], first["upto_key"], first["state"]) == ("", "k0001", "succeeded")
    assert (third["worker"], third["worker_host"], third["state"]) == (
        "worker-a:101:x1",
        "worker-a",
        "running",
    )
    assert (last["upto_key"], last["state"], last["attempts"], last["objects_failed"]) == (
        None,
        "failed",
        2,
        3,
    )
    assert last["error"] == "AccessDenied on 3 objects" and last["finished_at"]
    assert set(first) == {
        "seq",
        "after_key",
        "upto_key",
        "state",
        "worker",
        "worker_host",
        "attempts",
        "planned_objects",
        "planned_bytes",
        "objects_total",
        "bytes_total",
        "objects_done",
        "bytes_done",
        "objects_skipped",
        "objects_failed",
        "objects_deleted",
        "started_at",
        "finished_at",
        "error",
    }


def test_it_pages_shards_by_cursor_in_a_fixed_number_of_queries(
    api_as, viewer, running, django_assert_num_queries
):
    api = api_as(viewer)
    assert api.get("/jobs").status_code == 200  # the token is remembered from here on
    seen = []
    cursor = None
    while True:
        # The job (for access), the page, and its count when the list runs past it.
        with django_assert_num_queries(3):
            page = api.get(
                f"/jobs/{running.pk}/shards", limit=3, **({"cursor": cursor} if cursor else {})
            ).json()
        seen += [item["seq"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(len(STATES)))
    with django_assert_num_queries(2):  # the whole list on one page: no count
        api.get(f"/jobs/{running.pk}/shards")
    assert api.get(f"/jobs/{running.pk}/shards", cursor="bm90LWEtY3Vyc29y").status_code == 422


def test_the_job_counts_its_shards_by_state_or_says_null(api_as, viewer, running, team):
    api = api_as(viewer)
    summary = {
        "total": 8,
        "pending": 1,
        "queued": 1,
        "running": 3,
        "succeeded": 2,
        "partial": 0,
        "failed": 1,
        "cancelled": 0,
    }
    assert api.get(f"/jobs/{running.pk}").json()["shards"] == summary
    small = finished_job(running.profile)
    assert api.get(f"/jobs/{small.pk}").json()["shards"] is None
    listed = {item["id"]: item["shards"] for item in api.get("/jobs").json()["items"]}
    assert listed == {running.pk: summary, small.pk: None}
    assert api.get(f"/jobs/{small.pk}/shards").json() == {
        "items": [],
        "count": 0,
        "next_cursor": None,
    }


def test_outsiders_get_a_404(api_as, outsider, running):
    api = api_as(outsider)
    assert api.get(f"/jobs/{running.pk}/shards").status_code == 404
    assert api.get(f"/jobs/{running.pk}").status_code == 404


# --- The job page -----------------------------------------------------------------------------


def test_the_job_page_shows_the_shards_card(team, viewer, running):
    page = signed_in(viewer).get(f"/jobs/{running.pk}/").content.decode()
    texts = Texts("data-field")
    texts.feed(page)
    counts = texts.texts["shard-counts"]
    assert counts == "1 pending · 1 queued · 3 running · 2 succeeded · 1 failed"
    assert texts.texts["shard-workers"] == "Running on worker-a (2), worker-b (1)"
    cells = [attrs for tag, attrs in texts.tags if "shard-cell" in attrs.get("class", "")]
    assert [c["data-seq"] for c in cells] == [str(n) for n in range(len(STATES))]
    assert [c["class"].split()[-1] for c in cells] == [f"shard-{s}" for s in STATES]
    assert (
        cells[2]["aria-label"]
        == cells[2]["title"]
        == (
            "Shard 2: Running, on worker-a, 1 attempt; keys after 'k0002' up to 'k0003'; "
            "40 of 100 objects"
        )
    )
    assert cells[0]["aria-label"].startswith("Shard 0: Succeeded")
    assert "keys from the first key up to 'k0001'" in cells[0]["aria-label"]
    assert "to the last key" in cells[-1]["aria-label"] and "2 attempts" in cells[-1]["title"]
    assert 'hx-trigger="refresh, every 2s"' in page  # live: the card follows the shards


def test_a_finished_job_shows_its_final_strip_and_an_unsharded_one_no_card(team, viewer):
    nightly = profile(team, endpoint(team))
    done = finished_job(nightly)
    make_shards(done, ["succeeded"] * 3)
    client = signed_in(viewer)
    page = client.get(f"/jobs/{done.pk}/").content.decode()
    assert page.count('class="shard-cell shard-succeeded"') == 3
    assert "every 2s" not in page and "Running on" not in page
    small = finished_job(nightly)
    page = client.get(f"/jobs/{small.pk}/").content.decode()
    assert 'id="job-shards"' not in page
    active = Job.objects.create(team=team, profile=nightly, profile_name="p", state="planning")
    page = client.get(f"/jobs/{active.pk}/").content.decode()
    # An active job without shards yet: an empty slot the page fetches when they appear.
    assert 'id="job-shards"' in page and "shard-cell" not in page


def test_the_card_alone_is_served_to_members_only(team, viewer, outsider, running):
    response = signed_in(viewer).get(f"/jobs/{running.pk}/shards/")
    assert response.status_code == 200
    assert response.content.decode().count('class="shard-cell') == len(STATES)
    stranger = signed_in(outsider)
    assert stranger.get(f"/jobs/{running.pk}/shards/").status_code == 404
    assert stranger.get(f"/jobs/{running.pk}/").status_code == 404


def test_many_shards_are_grouped_into_runs_with_bounded_queries(
    team, viewer, django_assert_num_queries
):
    """2,000 shards: 200 cells of 10, each coloured by its most pressing state and saying what
    it holds; the card reads groups, not shards."""
    nightly = profile(team, endpoint(team))
    job = finished_job(nightly, Job.State.RUNNING, finished_at=None)
    states = ["succeeded"] * 2000
    states[15] = "failed"  # in the second run
    states[1990:] = ["running"] * 10  # the last run
    make_shards(job, states, {n: f"host-{n % 3}:1:a" for n in range(1990, 2000)})
    client = signed_in(viewer)
    # Session and user, the job, its access, the counts, the runs, the keys at their ends,
    # the hosts running shards.
    with django_assert_num_queries(8):
        response = client.get(f"/jobs/{job.pk}/shards/")
    page = response.content.decode()
    texts = Texts("data-field")
    texts.feed(page)
    cells = [attrs for tag, attrs in texts.tags if "shard-cell" in attrs.get("class", "")]
    assert len(cells) == shard_status.MAX_CELLS
    assert cells[0]["class"].endswith("shard-succeeded")
    assert cells[1]["class"].endswith("shard-failed")
    assert cells[1]["aria-label"] == (
        "Shards 10 to 19: 1 failed, 9 succeeded; keys after 'k0010' up to 'k0020'; "
        "900 of 1,000 objects"
    )
    assert cells[-1]["class"].endswith("shard-running")
    assert "to the last key" in cells[-1]["aria-label"]
    assert texts.texts["shard-workers"] == "Running on host-1 (4), host-0 (3), host-2 (3)"
    assert "run of up to 10 shards" in page


def test_the_strip_reads_at_most_its_cells_of_rows(team):
    nightly = profile(team, endpoint(team))
    job = finished_job(nightly)
    make_shards(job, ["pending"] * 7)
    assert [c.size for c in shard_status.strip(job.pk, 7, max_cells=3)] == [3, 3, 1]
    assert [c.first for c in shard_status.strip(job.pk, 7, max_cells=7)] == list(range(7))


def test_the_jobs_list_tags_sharded_jobs(team, viewer, running):
    small = finished_job(running.profile)
    page = signed_in(viewer).get("/jobs/").content.decode()
    assert page.count(" 8 shards</span>") == 1
    row = page[page.index(f'data-job="{small.pk}"') :]
    assert "shards</span>" not in row[: row.index("</tr>")]


def test_the_job_page_query_count_is_pinned(team, viewer, running, django_assert_num_queries):
    client = signed_in(viewer)
    other = profile(team, running.profile.source_endpoint, "Other")
    small = finished_job(other, Job.State.RUNNING, finished_at=None)
    client.get(f"/jobs/{small.pk}/")
    with django_assert_num_queries(10):  # the page of a job without shards: + their count
        response = client.get(f"/jobs/{small.pk}/")
    assert response.context["shards"] is None
    with django_assert_num_queries(12):  # + the strip and the hosts running shards
        response = client.get(f"/jobs/{running.pk}/")
    assert len(response.context["shards"]["cells"]) == len(STATES)


@pytest.mark.parametrize(
    ("worker", "host"),
    [("worker-a:12:abc", "worker-a"), ("10.0.0.7:1:x", "10.0.0.7"), ("odd", "odd"), ("", "")],
)
def test_a_workers_host_is_its_name_before_pid_and_id(worker, host):
    assert shard_status.worker_host(worker) == host


def test_the_openapi_document_describes_the_route_and_the_summary(client):
    schema = client.get("/api/v1/openapi.json").json()
    route = schema["paths"]["/api/v1/jobs/{job_id}/shards"]["get"]
    assert set(route["responses"]) >= {"200", "404"}
    components = schema["components"]["schemas"]
    shard_states = components["ShardOut"]["properties"]["state"]["enum"]
    assert shard_states == [state.value for state in JobShard.State]
    # The job's own states are not replaced by the shard's (both enums are called State).
    assert "planning" in components["State"]["enum"]
    summary = components["JobOut"]["properties"]["shards"]
    assert {"$ref": "#/components/schemas/ShardSummaryOut"} in summary["anyOf"]

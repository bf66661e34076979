"""Browsing an endpoint: its buckets, then one level of a prefix at a time, with the object
count and size of a prefix on demand. Every member may browse. The same fragment serves the
endpoint's Browse page and the profile form's picker dialog (`pick=source|destination`, which
adds the buttons that fill in the form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import VIEW, object_for
from syncportal.errors import DomainError
from transfers import services
from transfers.models import Endpoint
from transfers.views._common import is_htmx

PICK_SIDES = ("source", "destination")


@dataclass(frozen=True)
class Place:
    """Where the browser stands: an endpoint, and a bucket and prefix in it (or neither)."""

    endpoint: Endpoint
    bucket: str = ""
    prefix: str = ""
    pick: str = ""

    def url(self, bucket: str = "", prefix: str = "", cursor: str = "", name: str = "") -> str:
        query = {"bucket": bucket, "prefix": prefix, "cursor": cursor, "pick": self.pick}
        query = {k: v for k, v in query.items() if v}
        base = reverse(name or "endpoint_browse", args=[self.endpoint.pk])
        return base + ("?" + urlencode(query) if query else "")

    def crumbs(self) -> list[dict[str, str]]:
        """Buckets / bucket / each folder of the prefix, with a link to go back up."""
        if not self.bucket:
            return []
        crumbs = [{"label": self.bucket, "url": self.url(self.bucket)}]
        path = ""
        for segment in self.prefix.rstrip("/").split("/") if self.prefix else ():
            path += segment + "/"
            crumbs.append({"label": segment, "url": self.url(self.bucket, path)})
        return crumbs


def _message(exc: ValidationError | DomainError) -> str:
    return exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)


def _place(request: HttpRequest, endpoint: Endpoint, data) -> Place:
    pick = data.get("pick", "")
    return Place(
        endpoint,
        bucket=data.get("bucket", "").strip(),
        prefix=data.get("prefix", "").strip(),
        pick=pick if pick in PICK_SIDES else "",
    )


def _usage_context(place: Place, usage) -> dict[str, Any]:
    return {
        "usage": usage,
        "place": place,
        "usage_url": place.url(place.bucket, place.prefix, name="endpoint_usage"),
    }


def _browser_context(request: HttpRequest, place: Place) -> dict[str, Any]:
    context: dict[str, Any] = {
        "endpoint": place.endpoint,
        "place": place,
        "top_url": place.url(),
        "error": "",
    }
    try:
        if not place.bucket:
            buckets = services.endpoint_buckets(place.endpoint)
            context["buckets"] = [{"bucket": b, "url": place.url(b.name)} for b in buckets]
            return context
        cursor = request.GET.get("cursor", "")
        level = services.browse_endpoint(
            place.endpoint, bucket=place.bucket, prefix=place.prefix, cursor=cursor
        )
    except (ValidationError, DomainError) as exc:
        context["error"] = _message(exc)
        context["crumbs"] = place.crumbs() if place.bucket else []
        return context
    # The service normalised the prefix (a trailing '/'): links and the picker use that form.
    place = Place(place.endpoint, level.bucket, level.prefix, place.pick)
    context.update(
        place=place,
        crumbs=place.crumbs(),
        level=level,
        paged=bool(cursor),
        folders=[
            {"name": f[len(level.prefix) :], "prefix": f, "url": place.url(level.bucket, f)}
            for f in level.folders
        ],
        next_url=(
            place.url(level.bucket, level.prefix, level.next_cursor) if level.next_cursor else ""
        ),
        first_url=place.url(level.bucket, level.prefix),
    )
    try:
        usage = services.prefix_usage_of(place.endpoint, bucket=level.bucket, prefix=level.prefix)
    except DomainError:
        usage = None
    context.update(_usage_context(place, usage))
    return context


@login_required
@require_GET
def endpoint_browse(request: HttpRequest, pk: int) -> HttpResponse:
    """The whole page, or (htmx, e.g. the picker dialog) only the browser in it."""
    endpoint = object_for(request.user, Endpoint.objects.select_related("team"), VIEW, pk=pk)
    context = _browser_context(request, _place(request, endpoint, request.GET))
    template = "transfers/_browser.html" if is_htmx(request) else "transfers/endpoint_browse.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_usage(request: HttpRequest, pk: int) -> HttpResponse:
    """POST: start counting a prefix's objects and size (or show the count kept). GET (htmx):
    where the count stands, polled while it runs. Without htmx, both lead back to the page."""
    endpoint = object_for(request.user, Endpoint.objects.select_related("team"), VIEW, pk=pk)
    if request.method == "POST":
        return _start_count(request, endpoint)
    place = _place(request, endpoint, request.GET)
    if not is_htmx(request):
        return redirect(place.url(place.bucket, place.prefix))
    try:
        usage = services.prefix_usage_of(endpoint, bucket=place.bucket, prefix=place.prefix)
    except (ValidationError, DomainError) as exc:
        return render(request, "transfers/_prefix_usage.html", {"error": _message(exc)})
    return render(request, "transfers/_prefix_usage.html", _usage_context(place, usage))


def _start_count(request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
    place = _place(request, endpoint, request.POST)
    error = ""
    usage = None
    try:
        usage, _ = services.count_prefix_usage(
            endpoint,
            actor=request.user,
            bucket=place.bucket,
            prefix=place.prefix,
            again=bool(request.POST.get("again")),
            request=request,
        )
    except (ValidationError, DomainError) as exc:
        error = _message(exc)
    else:
        place = Place(endpoint, usage.bucket, usage.prefix, place.pick)
    if is_htmx(request):
        context = {**_usage_context(place, usage), "error": error}
        return render(request, "transfers/_prefix_usage.html", context)
    if error:
        messages.error(request, error)
    return redirect(place.url(place.bucket, place.prefix))

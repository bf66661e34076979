"""Pages: teams and their members, personal API tokens, the audit trail. Thin: check access,
call a service (or read through `accounts.audit_trail`)."""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from allauth.account.views._reauthenticate import BaseReauthenticateView
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from accounts import audit_trail, oidc, services
from accounts.access import ADMINISTER, AUDIT_REFUSAL, VIEW, audit_readable, object_for
from accounts.forms import AddMemberForm, ApiTokenForm, AuditFilterForm, RoleForm, TeamForm
from accounts.models import ApiToken, Membership, Team
from syncportal.errors import DomainError
from syncportal.pagination import browse_page, filters_query


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    mine = Membership.objects.filter(team=OuterRef("pk"), user=request.user)
    teams = Team.objects.visible_to(request.user).annotate(
        my_role=Subquery(mine.values("role")[:1]), member_count=Count("memberships")
    )
    form = TeamForm() if request.user.is_superuser else None
    return render(request, "accounts/team_list.html", {"teams": teams, "form": form})


@login_required
@require_POST
def team_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers create teams.")
    form = TeamForm(request.POST)
    if form.is_valid():
        try:
            team = services.create_team(**form.cleaned_data, actor=request.user, request=request)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Team {team} created.")
            return redirect("team_detail", slug=team.slug)
    teams = Team.objects.visible_to(request.user)
    return render(request, "accounts/team_list.html", {"teams": teams, "form": form}, status=422)


@login_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = object_for(request.user, Team.objects.all(), VIEW, slug=slug)
    can_manage = Team.objects.administrable_by(request.user).filter(pk=team.pk).exists()
    memberships = team.memberships.select_related("user").order_by("user__username")
    context = {
        "team": team,
        "memberships": memberships,
        "can_manage": can_manage,
        "add_form": AddMemberForm() if can_manage else None,
        "role_choices": RoleForm.base_fields["role"].choices,
    }
    return render(request, "accounts/team_detail.html", context)


def _done(request: HttpRequest, team: Team, call) -> HttpResponse:
    try:
        message = call()
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, message)
    return redirect("team_detail", slug=team.slug)


@login_required
@require_POST
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = object_for(request.user, Team.objects.all(), ADMINISTER, slug=slug)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("team_detail", slug=team.slug)
    user, role = form.cleaned_data["username"], form.cleaned_data["role"]

    def add():
        services.add_member(team, user, role, actor=request.user, request=request)
        return f"{user} added to {team}."

    return _done(request, team, add)


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    team = object_for(request.user, Team.objects.all(), ADMINISTER, slug=slug)
    membership = get_object_or_404(team.memberships.select_related("user"), user_id=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("team_detail", slug=team.slug)

    def change():
        updated = services.set_role(
            membership, form.cleaned_data["role"], actor=request.user, request=request
        )
        return f"{updated.user} is now {updated.get_role_display()}."

    return _done(request, team, change)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    team = object_for(request.user, Team.objects.all(), ADMINISTER, slug=slug)
    membership = get_object_or_404(team.memberships.select_related("user"), user_id=user_id)

    def remove():
        services.remove_member(membership, actor=request.user, request=request)
        return f"{membership.user} removed from {team}."

    return _done(request, team, remove)


@method_decorator(login_required, name="dispatch")
class SsoReauthenticateView(BaseReauthenticateView):
    """SSO users confirm who they are with a button that sends them to sign in again at the
    provider (POST, like sign-in); allauth's base view adds the rate limit and the other ways."""

    reauthentication_method = "socialaccount"
    form_class = forms.Form
    template_name = "account/reauthenticate_sso.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "provider": oidc.sso_provider(self.request)}

    def form_valid(self, form: forms.Form) -> HttpResponse:
        return oidc.start_reauthentication(self.request, self.get_next_url())


sso_reauthenticate = SsoReauthenticateView.as_view()


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    tokens = request.user.api_tokens.prefetch_related("teams")
    return render(request, "accounts/token_list.html", {"tokens": tokens})


@login_required
@reauthentication_required
def token_create(request: HttpRequest) -> HttpResponse:
    teams = services.bindable_teams(request.user)
    form = ApiTokenForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.create_api_token(
                request.user, **form.cleaned_data, actor=request.user, request=request
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            # Rendered, not redirected: the secret must not pass through the session.
            response = render(
                request, "accounts/token_created.html", {"token": token, "secret": secret}
            )
            response["Cache-Control"] = "no-store"
            return response
    status = 422 if form.errors else 200  # as every other form: a refusal is not a success
    return render(request, "accounts/token_form.html", {"form": form}, status=status)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=token_id)
    services.revoke_api_token(token, actor=request.user, request=request)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("token_list")


AUDIT_PAGE_SIZE = 50


def _audit_events(request: HttpRequest):
    """The events the user may read under the page's filters, or a 403 for users who may read
    none. Returns the (bound) form and the events; invalid filters match nothing."""
    if not request.user.may_read_audit:  # cached: the navigation asks too
        raise PermissionDenied(AUDIT_REFUSAL)
    user = request.user
    teams = audit_readable(Team.objects.all(), user, team_field="pk")
    form = AuditFilterForm(request.GET or None, teams=teams)
    if form.is_bound and not form.is_valid():
        return form, audit_trail.events_for(user, audit_trail.Filters()).none()
    filters = form.filters() if form.is_bound else audit_trail.Filters()
    return form, audit_trail.events_for(user, filters)


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form, events = _audit_events(request)
    page = browse_page(events, request.GET, size=AUDIT_PAGE_SIZE, by_time=False)
    context = {"form": form, "page": page, "query": filters_query(request.GET)}
    return render(request, "accounts/audit_log.html", context)


@login_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    _form, events = _audit_events(request)
    response = StreamingHttpResponse(
        audit_trail.csv_lines(events), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response

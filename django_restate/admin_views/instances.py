"""State pages: Virtual Object and Workflow instances, and one instance's state, editable.

An edit goes through :func:`django_restate.admin_api.state_edit.replace_state_checked`
(Restate drops a write with a stale version silently); this module tells the user
plainly when their change did not land because someone else changed the state first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from ..admin_api import partitions, queries
from ..admin_api.state_edit import CONFIRM_TIMEOUT, Applied, Unconfirmed, replace_state_checked
from ..models import State
from ..state import ENCODINGS, StateEntry, entries, key_from_ref, key_ref
from .base import Live, ModelAdmin, link, live, log, page_links, page_number, render, require
from .forms import STATE_OPERATIONS, StateChangeForm, StateSearchForm

SERVICE_PAGE = "admin:django_restate_registeredservice_detail"
KEYED_TYPES = ("VirtualObject", "Workflow")


def instance_url(service: str, key: str, pk: int | None = None, *, current_app: str | None = None) -> str:
    """The state page of one instance (``pk``: its partition key, a hint for servers that key differently)."""
    params: dict[str, str | int] = {"service": service, "key": key}
    if pk is not None:
        params["pk"] = pk
    return reverse("admin:django_restate_state_instance", current_app=current_app) + "?" + urlencode(params)


def instance_list(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    page = None
    services: list[str] = []
    with live() as restate:
        services = [s["name"] for s in restate.api.services() if s.get("ty") in KEYED_TYPES]
        form = StateSearchForm(request.GET, services)
        if form.is_valid():
            page = queries.state_instances(
                restate.api,
                service=form.cleaned_data["service"] or None,
                key_prefix=form.cleaned_data["key_prefix"] or None,
                page=page_number(request),
            )
    if restate.error:
        form = StateSearchForm(request.GET, services)
    rows = [
        {
            **row,
            "url": instance_url(
                row["service_name"], row["service_key"], row["partition_key"], current_app=request.current_app
            ),
        }
        for row in (page.rows if page else [])
    ]
    context: dict[str, Any] = {"form": form, "rows": rows, "page": page, "restate_error": restate.error}
    if page is not None:
        context.update(page_links(request, page.has_previous, page.has_next, page.number))
    return render(request, model_admin, "state_list.html", "Virtual Object and Workflow state", context)


def instance_detail(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    # The instance is named in the query string, also when a form posts to this page.
    service, key = request.GET.get("service"), request.GET.get("key")
    pk = partitions.parse(request.GET.get("pk"))
    require(model_admin.has_view_permission(request))
    if not service or key is None:
        messages.error(request, "Choose an instance from the list: the page needs a service and a key.")
        return HttpResponseRedirect(reverse("admin:django_restate_state_changelist", current_app=request.current_app))
    can_change = model_admin.has_change_permission(request)
    form: StateChangeForm | None = None
    conflict = False
    if request.method == "POST":
        require(can_change)
        form = StateChangeForm(request.POST)
        if form.is_valid():
            outcome = "error"
            with live() as restate:
                outcome = change_state(request, restate, service, key, pk, form)
            if restate.error:
                messages.error(request, f"The change was not saved. {restate.error}")
            if outcome == "applied":
                return HttpResponseRedirect(instance_url(service, key, pk, current_app=request.current_app))
            conflict = outcome == "conflict"
    return show_instance(request, model_admin, service, key, pk, form, conflict, can_change)


def show_instance(
    request: HttpRequest,
    model_admin: ModelAdmin,
    service: str,
    key: str,
    pk: int | None,
    form: StateChangeForm | None,
    conflict: bool,
    can_change: bool,
) -> TemplateResponse:
    shown = queries.ShownState({}, {}, {})
    lock = None
    promises: list[queries.Promise] = []
    with live() as restate:
        shown = queries.shown_state(restate.api, service, key, pk)
        lock = queries.locked_by(restate.api, service, key)
        promises = queries.promises(restate.api, service, key)
    error = restate.error
    invocations_url = (
        reverse("admin:django_restate_invocation_changelist", current_app=request.current_app)
        + "?"
        + urlencode({"service": service, "key": key})
    )
    return render(
        request,
        model_admin,
        "state_instance.html",
        f"{service} {key!r}",
        {
            "service": service,
            "service_url": link(SERVICE_PAGE, service, current_app=request.current_app),
            "key": key,
            "entries": page_entries(request, service, key, pk, shown),
            "version": shown.version,
            "locked_by": lock,
            "promises": promises,
            "form": form,
            "conflict": conflict,
            "can_change": can_change and error is None,
            "can_view_invocations": request.user.has_perm("django_restate.view_invocation"),
            "invocations_url": invocations_url,
            "action_url": instance_url(service, key, pk, current_app=request.current_app),
            "encodings": list(ENCODINGS.items()),
            "restate_error": error,
        },
        status=409 if conflict else 200,
    )


def page_entries(
    request: HttpRequest, service: str, key: str, pk: int | None, shown: queries.ShownState
) -> list[StateEntry]:
    """The entries to show, sorted by key; values too large to fetch get a download link instead."""
    out = entries(shown.values)
    for name, size in shown.too_large.items():
        params: dict[str, str | int] = {"service": service, "key": key, "ref": key_ref(name)}
        if pk is not None:
            params["pk"] = pk
        url = reverse("admin:django_restate_state_value", current_app=request.current_app) + "?" + urlencode(params)
        out.append(StateEntry(name, b"", too_large=size, download_url=url))
    return sorted(out, key=lambda entry: entry.key)


def value_download(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """One state value whole, as a file: the way to read one too large for the page."""
    require(model_admin.has_view_permission(request))
    service, key = request.GET.get("service") or "", request.GET.get("key")
    try:
        state_key = key_from_ref(request.GET.get("ref") or "")
    except ValueError:
        raise Http404("No such state key.") from None
    value = None
    with live() as restate:
        value = queries.state_value(restate.api, service, key or "", state_key, partitions.parse(request.GET.get("pk")))
    if restate.error:
        return HttpResponse(restate.error, status=502, content_type="text/plain; charset=utf-8")
    if value is None or key is None:
        raise Http404(f"{service} {key!r} has no state key {state_key!r}.")
    response = HttpResponse(value, content_type="application/octet-stream")
    response["Content-Disposition"] = 'attachment; filename="state-value.bin"'
    return response


def change_state(
    request: HttpRequest, restate: Live, service: str, key: str, pk: int | None, form: StateChangeForm
) -> str:
    """Make the form's change; returns "applied", "conflict" or "invalid" and tells the user which."""
    operation = form.cleaned_data["operation"]
    try:
        outcome = replace_state_checked(restate.api, service, key, form.cleaned_data["version"], form.apply, pk)
    except KeyError as exc:
        form.add_error("key", str(exc.args[0]))
        return "invalid"
    if isinstance(outcome, Applied):
        describe = describe_change(operation, form.cleaned_data.get("key") or "")
        if outcome.written:
            log(
                request,
                State,
                f"{service}/{key}",
                f"{service} {key!r}",
                DELETION if operation == "clear" else CHANGE,
                f"{describe[0].upper()}{describe[1:]} of {service} {key!r}.",
            )
            messages.success(request, f"Saved: {describe}.")
        else:
            messages.info(request, "Nothing to save: the state already holds exactly this.")
        return "applied"
    if isinstance(outcome, Unconfirmed):
        messages.warning(
            request,
            f"Restate accepted the change but had not applied it after {CONFIRM_TIMEOUT:g} seconds; "
            "reload the page to see whether it landed before trying again.",
        )
        return "conflict"
    messages.error(request, conflict_message(operation))
    return "conflict"


def conflict_message(operation: str) -> str:
    return (
        f"Your change ({STATE_OPERATIONS[operation]}) was not applied: someone else changed this state "
        "since you loaded the page. The current state is shown below and your input is kept in the form; "
        "review it and submit again if it is still right."
    )


def describe_change(operation: str, key: str) -> str:
    return {
        "edit": f"changed the value of {key!r}",
        "add": f"added the key {key!r}",
        "delete": f"deleted the key {key!r}",
        "clear": "cleared all state",
    }[operation]

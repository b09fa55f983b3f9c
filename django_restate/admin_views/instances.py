"""State pages: Virtual Object and Workflow instances, and one instance's state, editable.

Restate's ``POST /services/{service}/state`` replaces the whole state and, when the
version it is given is stale, answers 202 all the same and does nothing. So an
edit is: check the version the page showed against the current state, write
the whole new state with that version, read it back, and tell the user plainly
when their change did not land because someone else changed the state first.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .. import partitions
from ..admin_api import AdminAPI
from ..models import State
from ..state import ENCODINGS, entries, state_version
from . import queries
from .base import RESTATE_ERRORS, ModelAdmin, banner, log, page_links, page_number, render, require
from .forms import STATE_OPERATIONS, StateChangeForm, StateSearchForm

#: How long to wait for Restate to apply an accepted write before calling it unconfirmed.
CONFIRM_TIMEOUT = 5.0
KEYED_TYPES = ("VirtualObject", "Workflow")


def instance_url(service: str, key: str, pk: int | None = None, *, current_app: str | None = None) -> str:
    """The state page of one instance (``pk``: its partition key, a hint for servers that key differently)."""
    params: dict[str, str | int] = {"service": service, "key": key}
    if pk is not None:
        params["pk"] = pk
    return reverse("admin:django_restate_state_instance", current_app=current_app) + "?" + urlencode(params)


def read_state(api: AdminAPI, service: str, key: str, pk: int | None) -> dict[str, bytes]:
    """The instance's state, read from its partition alone when its partition key is known.

    The key's own partition key is used when the server agrees with ours; otherwise the one
    the link carried, and since a stale or forged ``pk`` finds nothing, an empty answer
    is checked without it.
    """
    own = partitions.narrowing(api, key)
    if own is not None:
        return api.get_state(service, key, own)
    state = api.get_state(service, key, pk) if pk is not None else {}
    return state or api.get_state(service, key)


def instance_list(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    page = None
    error = None
    services: list[str] = []
    try:
        with AdminAPI() as api:
            services = [s["name"] for s in api.services() if s.get("ty") in KEYED_TYPES]
            form = StateSearchForm(request.GET, services)
            if form.is_valid():
                page = queries.state_instances(
                    api,
                    service=form.cleaned_data["service"] or None,
                    key_prefix=form.cleaned_data["key_prefix"] or None,
                    page=page_number(request),
                )
    except RESTATE_ERRORS as exc:
        error = banner(exc)
        form = StateSearchForm(request.GET, services)
    rows = [
        {
            **row,
            "url": instance_url(
                row["service_name"],
                row["service_key"],
                queries.partition_key(row.get("partition_key")),
                current_app=request.current_app,
            ),
        }
        for row in (page.rows if page else [])
    ]
    context: dict[str, Any] = {"form": form, "rows": rows, "page": page, "restate_error": error}
    if page is not None:
        context.update(page_links(request, page.has_previous, page.has_next, page.number))
    return render(request, model_admin, "state_list.html", "Virtual Object and Workflow state", context)


def instance_detail(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    # The instance is named in the query string, also when a form posts to this page.
    service, key = request.GET.get("service"), request.GET.get("key")
    pk = queries.partition_key(request.GET.get("pk"))
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
            try:
                outcome = change_state(request, service, key, pk, form)
            except RESTATE_ERRORS as exc:
                messages.error(request, f"The change was not saved. {banner(exc)}")
                outcome = "error"
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
    state: dict[str, bytes] = {}
    lock = None
    promises: list[dict[str, Any]] = []
    error = None
    try:
        with AdminAPI() as api:
            state = read_state(api, service, key, pk)
            lock = queries.locked_by(api, service, key)
            promises = queries.promises(api, service, key)
    except RESTATE_ERRORS as exc:
        error = banner(exc)
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
            "key": key,
            "entries": entries(state),
            "version": state_version(state),
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


def change_state(request: HttpRequest, service: str, key: str, pk: int | None, form: StateChangeForm) -> str:
    """Make the form's change; returns "applied", "conflict" or "invalid" and tells the user which."""
    shown_version = form.cleaned_data["version"]
    operation = form.cleaned_data["operation"]
    with AdminAPI() as api:
        current = read_state(api, service, key, pk)
        if state_version(current) != shown_version:
            messages.error(request, conflict_message(operation))
            return "conflict"
        try:
            new = form.apply(current)
        except KeyError as exc:
            form.add_error("key", str(exc.args[0]))
            return "invalid"
        api.replace_state(service, key, {k: list(v) for k, v in new.items()}, shown_version)
        after = wait_until_changed(api, service, key, pk, current, new)
    if after == new:
        describe = describe_change(operation, form.cleaned_data.get("key") or "")
        log(
            request,
            State,
            f"{service}/{key}",
            f"{service} {key!r}",
            DELETION if operation == "clear" else CHANGE,
            f"{describe[0].upper()}{describe[1:]} of {service} {key!r}.",
        )
        messages.success(request, f"Saved: {describe}.")
        return "applied"
    if after == current:
        messages.warning(
            request,
            f"Restate accepted the change but had not applied it after {CONFIRM_TIMEOUT:g} seconds; "
            "reload the page to see whether it landed before trying again.",
        )
        return "conflict"
    messages.error(request, conflict_message(operation))
    return "conflict"


def wait_until_changed(
    api: AdminAPI, service: str, key: str, pk: int | None, before: dict[str, bytes], wanted: dict[str, bytes]
) -> dict[str, bytes]:
    """Re-read the state until our write shows, someone else's shows, or time runs out.

    Restate applies an accepted write asynchronously and drops a stale one without
    saying so; either way the state stops being ``before``, unless the write was a no-op.
    """
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    delay = 0.01
    while True:
        after = read_state(api, service, key, pk)
        if after == wanted or after != before or time.monotonic() > deadline:
            return after
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


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

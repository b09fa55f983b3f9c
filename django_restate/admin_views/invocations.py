"""Invocation pages: the filtered list, one invocation with its journal, and the actions
cancel / kill / pause / resume / purge, for one invocation or many, always confirmed first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from ..admin_api import INVOCATION_ACTIONS, AdminAPIError, partitions, queries
from ..models import Invocation
from .base import ModelAdmin, live, log, page_links, page_number, render, require, safe_next
from .forms import InvocationFilterForm
from .instances import instance_url
from .journal import timeline

MANAGE_PERMISSION = "django_restate.manage_invocation"
DONE = {"cancel": "Cancelled", "kill": "Killed", "pause": "Paused", "resume": "Resumed", "purge": "Purged"}
EXPLAIN = {
    "cancel": "Cancelling asks the handler to stop: it gets a cancellation error at its next await "
    "and can still run its compensations. The invocation completes with a failure.",
    "kill": "Killing stops the invocation at once, without running any more of its code; "
    "its effects so far stay, compensations do not run. Prefer cancel.",
    "pause": "Pausing stops a running invocation until someone resumes it.",
    "resume": "Resuming continues a paused or suspended invocation, or retries a backing-off one now.",
    "purge": "Purging forgets a completed invocation: its journal, result and idempotency entry are deleted.",
}
REFUSALS = {
    404: "Restate does not know this invocation (already purged?)",
    400: "Restate cannot read this invocation id",
    409: "the invocation is not in a state that allows this",
}


def detail_url(invocation_id: str, current_app: str | None = None) -> str:
    return reverse("admin:django_restate_invocation_detail", args=[invocation_id], current_app=current_app)


def invocation_list(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    page = None
    services: list[str] = []
    with live() as restate:
        services = [s["name"] for s in restate.api.services()]
        form = InvocationFilterForm(request.GET, services)
        if form.is_valid():
            page = queries.invocations(restate.api, form.filters(), page_number(request))
    if restate.error:
        form = InvocationFilterForm(request.GET, services)
    rows = [decorate(row, current_app=request.current_app) for row in (page.rows if page else [])]
    context: dict[str, Any] = {
        "form": form,
        "rows": rows,
        "page": page,
        "actions": INVOCATION_ACTIONS,
        "can_manage": request.user.has_perm(MANAGE_PERMISSION),
        "here": request.get_full_path(),
        "restate_error": restate.error,
    }
    if page is not None:
        context.update(page_links(request, page.has_previous, page.has_next, page.number))
    return render(request, model_admin, "invocation_list.html", "Restate invocations", context)


def list_url(request: HttpRequest) -> str:
    return reverse("admin:django_restate_invocation_changelist", current_app=request.current_app)


def decorate(row: Mapping[str, Any], pk: int | None = None, *, current_app: str | None = None) -> dict[str, Any]:
    """A ``sys_invocation`` row with parsed times and the links the pages show (``pk``: the
    target's partition key, when known)."""
    out = queries.with_times(
        row, "created_at", "modified_at", "running_at", "completed_at", "scheduled_at", "next_retry_at", "inboxed_at"
    )
    out["url"] = detail_url(str(row["id"]), current_app)
    key = row.get("target_service_key")
    if key is not None and row.get("target_service_ty") in ("virtual_object", "workflow"):
        out["instance_url"] = instance_url(str(row["target_service_name"]), str(key), pk, current_app=current_app)
    return out


def invocation_detail(request: HttpRequest, model_admin: ModelAdmin, invocation_id: str) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    row = None
    entries: list[Any] = []
    pk = None
    with live() as restate:
        row = queries.invocation(restate.api, invocation_id)
        if row is not None:
            rows = queries.journal(restate.api, invocation_id)
            entries = timeline(rows)
            pk = partitions.parse(rows[0].get("partition_key")) if rows else None
    error = restate.error
    return render(
        request,
        model_admin,
        "invocation_detail.html",
        f"Invocation {invocation_id}",
        {
            "invocation_id": invocation_id,
            "invocation": decorate(row, pk, current_app=request.current_app) if row else None,
            "journal": entries,
            "journal_truncated": len(entries) >= queries.JOURNAL_LIMIT,
            "actions": INVOCATION_ACTIONS,
            "can_manage": request.user.has_perm(MANAGE_PERMISSION),
            "can_view_state": request.user.has_perm("django_restate.view_state"),
            "restate_error": error,
        },
        status=404 if row is None and error is None else 200,
    )


def invocation_action(request: HttpRequest, model_admin: ModelAdmin, invocation_id: str, action: str) -> HttpResponse:
    """Confirm (GET) and then do (POST) one action on one invocation."""
    require(request.user.has_perm(MANAGE_PERMISSION))
    if action not in INVOCATION_ACTIONS:
        messages.error(
            request, f"There is no invocation action {action!r}; use one of {', '.join(INVOCATION_ACTIONS)}."
        )
        return HttpResponseRedirect(detail_url(invocation_id, request.current_app))
    if request.method != "POST":
        return confirm(
            request,
            model_admin,
            action,
            [invocation_id],
            back=detail_url(invocation_id, request.current_app),
            single=True,
        )
    done = perform(request, action, [invocation_id])
    if action == "purge" and done:
        return HttpResponseRedirect(list_url(request))
    return HttpResponseRedirect(detail_url(invocation_id, request.current_app))


def bulk_action(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """The list's action form: confirm, then do the action on every selected invocation."""
    require(request.user.has_perm(MANAGE_PERMISSION))
    back = safe_next(request, list_url(request))
    if request.method != "POST":
        return HttpResponseRedirect(back)
    action = request.POST.get("action", "")
    ids = list(dict.fromkeys(request.POST.getlist("_selected_action")))
    if action not in INVOCATION_ACTIONS:
        messages.error(request, "Choose an action to perform on the selected invocations.")
        return HttpResponseRedirect(back)
    if not ids:
        messages.warning(request, "Select at least one invocation; nothing was done.")
        return HttpResponseRedirect(back)
    if request.POST.get("confirmed") != "yes":
        return confirm(request, model_admin, action, ids, back=back)
    perform(request, action, ids)
    return HttpResponseRedirect(back)


def confirm(
    request: HttpRequest, model_admin: ModelAdmin, action: str, ids: list[str], back: str, single: bool = False
) -> TemplateResponse:
    rows: list[dict[str, Any]] = []
    found: dict[str, queries.InvocationRow | None] = {}
    with live() as restate:
        # One lookup per id: Restate finds an invocation by id directly, and fails a whole
        # IN (...) query when one of the ids is not valid.
        for invocation_id in ids:
            found[invocation_id] = queries.invocation(restate.api, invocation_id)
    error = restate.error
    for invocation_id in ids:
        row = found.get(invocation_id)
        if row:
            rows.append(decorate(row, current_app=request.current_app))
        else:
            rows.append({"id": invocation_id, "url": detail_url(invocation_id, request.current_app), "missing": True})
    return render(
        request,
        model_admin,
        "invocation_confirm.html",
        f"{action.capitalize()} {len(ids)} invocation{'s' if len(ids) != 1 else ''}?",
        {
            "action": action,
            "explanation": EXPLAIN[action],
            "rows": rows,
            "ids": ids,
            "single": single,
            "back": back,
            "restate_error": error,
        },
    )


def perform(request: HttpRequest, action: str, ids: list[str]) -> list[str]:
    """Do ``action`` on each invocation; report what Restate did and what it refused."""
    done: list[str] = []
    refused: list[str] = []
    with live() as restate:
        for invocation_id in ids:
            try:
                restate.api.invocation_action(invocation_id, action)
            except AdminAPIError as exc:
                reason = REFUSALS.get(exc.status, f"status {exc.status}")
                refused.append(f"{invocation_id}: {reason} ({exc.status}: {exc.message})")
                continue
            done.append(invocation_id)
            log(
                request,
                Invocation,
                invocation_id,
                invocation_id,
                DELETION if action == "purge" else CHANGE,
                f"{DONE[action]} invocation {invocation_id}.",
            )
    if restate.error:
        messages.error(request, restate.error)
    if done:
        messages.success(request, f"{DONE[action]} {', '.join(done)}.")
    if refused:
        messages.error(request, f"Restate refused to {action}: " + "; ".join(refused))
    return done

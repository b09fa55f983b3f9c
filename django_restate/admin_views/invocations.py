"""Invocation pages: the filtered list, one invocation with its journal, and the actions
cancel / kill / pause / resume (retry now) / purge / restart as new, for one invocation, the
selected ones, or every invocation matching the list's filter; always confirmed first."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ..admin_api import INVOCATION_ACTIONS, AdminAPIError, partitions, queries
from ..models import Invocation
from .base import ModelAdmin, link, live, log, page_links, page_number, render, require, safe_next
from .forms import InvocationFilterForm
from .instances import instance_url
from .journal import parse_entry, readable, timeline
from .timeline import rows_html, steps

MANAGE_PERMISSION = "django_restate.manage_invocation"
#: Restate's invocation actions, and restart as new.
ACTIONS = (*INVOCATION_ACTIONS, "restart")
#: Actions that end or forget work: their buttons use the admin's danger style.
DESTRUCTIVE = frozenset({"cancel", "kill", "purge"})
DONE = {
    "cancel": "Cancelled",
    "kill": "Killed",
    "pause": "Paused",
    "resume": "Resumed",
    "purge": "Purged",
    "restart": "Restarted",
}
LABELS = {"restart": "Restart as new"}
#: Which actions Restate allows in which status (it answers 409 to the others).
ALLOWED = {
    "pending": ("cancel", "kill"),
    "scheduled": ("cancel", "kill"),
    "ready": ("cancel", "kill"),
    "inboxed": ("cancel", "kill"),
    "running": ("pause", "cancel", "kill"),
    "backing-off": ("resume", "pause", "cancel", "kill"),
    "suspended": ("resume", "pause", "cancel", "kill"),
    "paused": ("resume", "cancel", "kill"),
    "completed": ("restart", "purge"),
}
EXPLAIN = {
    "cancel": "Cancelling asks the handler to stop: it gets a cancellation error at its next await "
    "and can still run its compensations. The invocation completes with a failure.",
    "kill": "Killing stops the invocation at once, without running any more of its code; "
    "its effects so far stay, compensations do not run. Prefer cancel.",
    "pause": "Pausing stops a running invocation until someone resumes it.",
    "resume": "Resuming continues a paused or suspended invocation, or retries a backing-off one now.",
    "purge": "Purging forgets a completed invocation: its journal, result and idempotency entry are deleted.",
    "restart": "Restarting as new starts a new invocation of the same handler with the same input. From a "
    "journal entry, the new one keeps the journal up to that entry (its steps are not run again) and "
    "runs the rest anew.",
}


def allowed_actions(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The actions Restate allows for this invocation now, as buttons (name, label, danger)."""
    status = str(row.get("status") or "")
    names = list(ALLOWED.get(status, ()))
    if row.get("target_service_ty") == "workflow" and "restart" in names:
        names.remove("restart")  # a workflow id runs once: Restate refuses to restart one
    return [
        {
            "name": name,
            "label": "Retry now"
            if name == "resume" and status == "backing-off"
            else LABELS.get(name, name.capitalize()),
            "danger": name in DESTRUCTIVE,
        }
        for name in names
    ]


REFUSALS = {
    404: "Restate does not know this invocation (already purged?)",
    400: "Restate cannot read this invocation id",
    409: "the invocation is not in a state that allows this",
}


def detail_url(invocation_id: str, current_app: str | None = None) -> str | None:
    """The invocation's page; None for an id that cannot be in a URL (a ``/`` in a forged one)."""
    return link("admin:django_restate_invocation_detail", invocation_id, current_app=current_app)


def invocation_list(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    page = None
    services: list[str] = []
    count = None
    with live() as restate:
        services = [s["name"] for s in restate.api.services()]
        form = InvocationFilterForm(request.GET, services)
        if form.is_valid():
            filters = form.filters()
            page = queries.invocations(restate.api, filters, page_number(request))
            if filters.key is not None:  # one object's invocations: one partition, so counting is cheap
                count = queries.count_matching(restate.api, filters)
    if restate.error:
        form = InvocationFilterForm(request.GET, services)
    rows = [decorate(row, current_app=request.current_app) for row in (page.rows if page else [])]
    context: dict[str, Any] = {
        "form": form,
        "rows": rows,
        "page": page,
        "actions": [{"name": a, "label": LABELS.get(a, a.capitalize())} for a in ACTIONS],
        "can_manage": request.user.has_perm(MANAGE_PERMISSION),
        "here": request.get_full_path(),
        "filter_query": filter_query(request.GET),
        "count": count,
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
    out["duration"] = duration(out.get("created_at"), out.get("completed_at"))
    out["status_class"] = f"restate-status-{status_class(row)}"
    out["allowed_actions"] = allowed_actions(row)
    key = row.get("target_service_key")
    if key is not None and row.get("target_service_ty") in ("virtual_object", "workflow"):
        out["instance_url"] = instance_url(str(row["target_service_name"]), str(key), pk, current_app=current_app)
    return out


def duration(start: datetime.datetime | None, end: datetime.datetime | None) -> str:
    """How long it ran (``1.2 s``, ``3 min 4 s``); from ``start`` until now while it has not completed."""
    if start is None:
        return ""
    seconds = max(((end or timezone.now()) - start).total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


def status_class(row: Mapping[str, Any]) -> str:
    """``succeeded`` / ``failed`` for a completed invocation, else its status: the badge's colour."""
    if row.get("status") == "completed":
        return "failed" if row.get("completion_result") == "failure" else "succeeded"
    return str(row.get("status") or "unknown")


def filter_query(params: QueryDict) -> str:
    """The list's filters as a query string, without the page number."""
    query = params.copy()
    query.pop("p", None)
    return query.urlencode()


def invocation_detail(request: HttpRequest, model_admin: ModelAdmin, invocation_id: str) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    row = None
    entries: list[Any] = []
    pk = None
    with live() as restate:
        row = queries.invocation(restate.api, invocation_id)
        if row is not None:
            rows = queries.journal(restate.api, invocation_id)
            entries = timeline(rows, lambda index: entry_url(invocation_id, index, request.current_app))
            pk = partitions.parse(rows[0].get("partition_key")) if rows else None
    error = restate.error
    rows_on_axis = steps(entries, row)
    times = [t for step in rows_on_axis for t in (step.started, step.ended) if t is not None]
    return render(
        request,
        model_admin,
        "invocation_detail.html",
        f"Invocation {invocation_id}",
        {
            "invocation_id": invocation_id,
            "invocation": decorate(row, pk, current_app=request.current_app) if row else None,
            "journal": entries,
            "steps": rows_on_axis,
            "timeline_rows": rows_html(
                rows_on_axis,
                int((row or {}).get("retry_count") or 0),
                lambda other: detail_url(other, request.current_app),
            ),
            "axis_start": min(times, default=None),
            "axis_end": max(times, default=None),
            "journal_truncated": len(entries) >= queries.JOURNAL_LIMIT,
            "can_manage": request.user.has_perm(MANAGE_PERMISSION),
            "can_view_state": request.user.has_perm("django_restate.view_state"),
            "restate_error": error,
        },
        status=404 if row is None and error is None else 200,
    )


def entry_url(invocation_id: str, index: int, current_app: str | None = None) -> str | None:
    return link("admin:django_restate_invocation_journal_entry", invocation_id, str(index), current_app=current_app)


def journal_entry_download(
    request: HttpRequest, model_admin: ModelAdmin, invocation_id: str, index: int
) -> HttpResponse:
    """One journal entry whole, as a file: the way to read one too large for the page."""
    require(model_admin.has_view_permission(request))
    entry = None
    with live() as restate:
        entry = queries.journal_entry(restate.api, invocation_id, index)
    if restate.error:
        return HttpResponse(restate.error, status=502, content_type="text/plain; charset=utf-8")
    if entry is None:
        raise Http404(f"Invocation {invocation_id} has no journal entry {index}.")
    # As the page would show it: payload bytes decoded (JSON as JSON, text as text).
    response = HttpResponse(readable(parse_entry(entry)), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{invocation_id}-entry-{index}.json"'
    return response


def invocation_action(request: HttpRequest, model_admin: ModelAdmin, invocation_id: str, action: str) -> HttpResponse:
    """Confirm (GET) and then do (POST) one action on one invocation."""
    require(request.user.has_perm(MANAGE_PERMISSION))
    back = detail_url(invocation_id, request.current_app) or list_url(request)
    if action not in ACTIONS:
        messages.error(request, f"There is no invocation action {action!r}; use one of {', '.join(ACTIONS)}.")
        return HttpResponseRedirect(back)
    if request.method != "POST":
        return confirm(request, model_admin, action, [invocation_id], back=back, single=True)
    from_entry = journal_entry(request.POST.get("from"))
    results = perform(request, action, [invocation_id], from_entry=from_entry)
    report(request, action, results)
    done = results[0] if results and results[0].ok else None
    if done and done.new_invocation_id:
        return HttpResponseRedirect(detail_url(done.new_invocation_id, request.current_app) or back)
    if action == "purge" and done:
        return HttpResponseRedirect(list_url(request))
    return HttpResponseRedirect(back)


def journal_entry(value: str | None) -> int | None:
    """The journal entry a restart keeps up to (``from``), or None to restart from the start."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 <= number < 2**32 else None


def bulk_action(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """The list's action form: confirm, then do the action on every selected invocation, or on
    every invocation matching the list's filters (``across``), and show what came of each."""
    require(request.user.has_perm(MANAGE_PERMISSION))
    back = safe_next(request, list_url(request))
    if request.method != "POST":
        return HttpResponseRedirect(back)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, "Choose an action to perform on the selected invocations.")
        return HttpResponseRedirect(back)
    if request.POST.get("across") == "1":
        return act_on_matching(request, model_admin, action, back)
    ids = list(dict.fromkeys(request.POST.getlist("_selected_action")))
    if not ids:
        messages.warning(request, "Select at least one invocation; nothing was done.")
        return HttpResponseRedirect(back)
    if request.POST.get("confirmed") != "yes":
        return confirm(request, model_admin, action, ids, back=back)
    return results_page(request, model_admin, action, perform(request, action, ids), back)


def act_on_matching(request: HttpRequest, model_admin: ModelAdmin, action: str, back: str) -> HttpResponse:
    """The action on every invocation the list's filters match, not only the page shown."""
    services: list[str] = []
    ids: list[str] = []
    total = 0
    sample: list[dict[str, Any]] = []
    params = QueryDict(request.POST.get("filter", ""))
    with live() as restate:
        services = [s["name"] for s in restate.api.services()]
        form = InvocationFilterForm(params, services)
        if form.is_valid():
            filters = form.filters()
            if request.POST.get("confirmed") == "yes":
                ids = queries.matching_ids(restate.api, filters)
            else:
                total = queries.count_matching(restate.api, filters)
                first = queries.invocations(restate.api, filters, 1)
                sample = [decorate(row, current_app=request.current_app) for row in first.rows[:20]]
    if restate.error or not form.is_valid():
        messages.error(request, restate.error or f"The filters are not valid: {form.errors.as_text()}")
        return HttpResponseRedirect(back)
    if request.POST.get("confirmed") == "yes":
        return results_page(request, model_admin, action, perform(request, action, ids), back)
    if not total:
        messages.warning(request, "No invocations match these filters; nothing was done.")
        return HttpResponseRedirect(back)
    described = ", ".join(f"{name} {value!r}" for name, value in params.items() if value and name != "p")
    return render(
        request,
        model_admin,
        "invocation_confirm.html",
        f"{LABELS.get(action, action.capitalize())} all {total} matching invocation{'s' if total != 1 else ''}?",
        {
            "action": action,
            "label": LABELS.get(action, action),
            "danger": action in DESTRUCTIVE,
            "explanation": EXPLAIN[action],
            "rows": sample,
            "more": max(total - len(sample), 0),
            "total": total,
            "capped": total > queries.MAX_BULK,
            "max_bulk": queries.MAX_BULK,
            "across": True,
            "filter": params.urlencode(),
            "described": described or "no filter: every invocation",
            "back": back,
        },
    )


def confirm(
    request: HttpRequest, model_admin: ModelAdmin, action: str, ids: list[str], back: str, single: bool = False
) -> TemplateResponse:
    # The page shows each invocation's target and status: what view_invocation lets one see.
    require(model_admin.has_view_permission(request))
    rows: list[dict[str, Any]] = []
    found: dict[str, queries.InvocationRow | None] = {}
    journal: list[Any] = []
    with live() as restate:
        # One lookup per id: Restate finds an invocation by id directly, and fails a whole
        # IN (...) query when one of the ids is not valid.
        for invocation_id in ids:
            found[invocation_id] = queries.invocation(restate.api, invocation_id)
        if single and action == "restart" and found.get(ids[0]):
            journal = timeline(queries.journal(restate.api, ids[0]))
    error = restate.error
    for invocation_id in ids:
        row = found.get(invocation_id)
        if row:
            rows.append(decorate(row, current_app=request.current_app))
        else:
            rows.append({"id": invocation_id, "url": detail_url(invocation_id, request.current_app), "missing": True})
    label = LABELS.get(action, action.capitalize())
    return render(
        request,
        model_admin,
        "invocation_confirm.html",
        f"{label} {len(ids)} invocation{'s' if len(ids) != 1 else ''}?",
        {
            "action": action,
            "label": label.lower(),
            "danger": action in DESTRUCTIVE,
            "explanation": EXPLAIN[action],
            "rows": rows,
            "ids": ids,
            "total": len(ids),
            "single": single,
            "journal": [entry for entry in journal if entry.is_command],
            "back": back,
            "restate_error": error,
        },
    )


@dataclass
class Result:
    """What Restate did with one invocation."""

    invocation_id: str
    ok: bool
    message: str
    new_invocation_id: str | None = None


def perform(request: HttpRequest, action: str, ids: list[str], from_entry: int | None = None) -> list[Result]:
    """Do ``action`` on each invocation; what Restate did or refused, per invocation."""
    results: list[Result] = []
    with live() as restate:
        for invocation_id in ids:
            new_id = None
            try:
                if action == "restart":
                    new_id = restate.api.restart_as_new(invocation_id, from_entry)
                else:
                    restate.api.invocation_action(invocation_id, action)
            except AdminAPIError as exc:
                reason = REFUSALS.get(exc.status, f"status {exc.status}")
                results.append(Result(invocation_id, False, f"{reason} ({exc.status}: {exc.message})"))
                continue
            where = f" from journal entry {from_entry}" if from_entry is not None else ""
            message = f"{DONE[action]} invocation {invocation_id}{where}" + (f" as {new_id}" if new_id else "") + "."
            results.append(Result(invocation_id, True, message, new_id))
            log(
                request,
                Invocation,
                invocation_id,
                invocation_id,
                DELETION if action == "purge" else CHANGE,
                message,
            )
    if restate.error:
        messages.error(request, restate.error)
    return results


def report(request: HttpRequest, action: str, results: list[Result]) -> None:
    """The results of an action as admin messages (for one invocation, or a few)."""
    done = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    if done:
        messages.success(request, " ".join(r.message for r in done))
    if refused:
        messages.error(
            request, f"Restate refused to {action}: " + "; ".join(f"{r.invocation_id}: {r.message}" for r in refused)
        )


def results_page(
    request: HttpRequest, model_admin: ModelAdmin, action: str, results: list[Result], back: str
) -> TemplateResponse:
    """What came of a bulk action, invocation by invocation."""
    done = sum(r.ok for r in results)
    return render(
        request,
        model_admin,
        "invocation_results.html",
        f"{DONE[action]} {done} of {len(results)} invocation{'s' if len(results) != 1 else ''}",
        {
            "action": action,
            "results": [{**vars(r), "url": detail_url(r.invocation_id, request.current_app)} for r in results],
            "done": done,
            "refused": len(results) - done,
            "back": back,
        },
    )

"""The Restate section at a glance: invocations per status and per service, what is failing or
backing off right now with its last error, and whether this project's deployment is registered
and matches the code.

Every figure is live from Restate. The counts are one ``GROUP BY`` over ``sys_invocation`` (one
scan however many invocations there are), read at the same time as the services; the failing
invocations are a second scan, made only when the counts show some backing off or paused. So
the page costs one scan while nothing is failing, and two when something is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from .. import _http
from ..admin_api import AdminAPI, quote
from ..conf import restate_settings
from ..deployments import drift, our_deployment_ids
from ..registry import registry
from .base import ModelAdmin, link, live, render, require
from .invocations import decorate, status_class

#: Statuses that mean "something is wrong and Restate keeps trying (or waits for a person)".
TROUBLE = ("backing-off", "paused")
FAILING_SHOWN = 20
COUNT_SQL = (
    "SELECT target_service_name, status, completion_result, COUNT(*) AS n FROM sys_invocation "
    "GROUP BY target_service_name, status, completion_result"
)
FAILING_SQL = (
    "SELECT id, target, target_service_name, target_service_key, target_handler_name, target_service_ty, status, "
    "completion_result, created_at, modified_at, next_retry_at, retry_count, last_failure, last_failure_error_code, "
    "last_attempt_deployment_id FROM sys_invocation "
    f"WHERE status IN ({', '.join(quote(s) for s in TROUBLE)}) ORDER BY modified_at DESC LIMIT {FAILING_SHOWN + 1}"
)


def at_once(*reads: Callable[[], Any]) -> list[Any]:
    """Run independent reads of the admin API side by side (httpx clients are thread-safe)."""
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        futures = [pool.submit(read) for read in reads]
        return [future.result() for future in futures]


def counts(api: AdminAPI) -> dict[str, Any]:
    """Invocations per status (completed split into succeeded / failed) and per service."""
    per_status: dict[str, int] = {}
    per_service: dict[str, dict[str, int]] = {}
    for row in api.query(COUNT_SQL):
        status = status_class(row)
        n = int(row["n"])
        per_status[status] = per_status.get(status, 0) + n
        service = per_service.setdefault(str(row["target_service_name"]), {"total": 0})
        service[status] = service.get(status, 0) + n
        service["total"] += n
    return {"per_status": per_status, "per_service": per_service}


def deployment_health(api: AdminAPI) -> dict[str, Any]:
    """Is DEPLOYMENT_URL registered, and do Restate's services match the code?"""
    ours = our_deployment_ids(api)
    differences = drift(api.services(), deployment_ids=ours) if ours else []
    return {"ids": ours, "drift": differences, "url": restate_settings.DEPLOYMENT_URL}


def overview(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    tallies: dict[str, Any] = {"per_status": {}, "per_service": {}}
    failing: list[dict[str, Any]] = []
    health: dict[str, Any] = {}
    with live() as restate:
        api = restate.api
        tallies, health = at_once(lambda: counts(api), lambda: deployment_health(api))
        # The failing invocations are a second scan of every invocation: only worth it when the
        # counts say there are some.
        in_trouble = any(tallies["per_status"].get(status) for status in TROUBLE)
        failing_rows = api.query(FAILING_SQL) if in_trouble else []
        failing = [decorate(row, current_app=request.current_app) for row in failing_rows]
    invocations = reverse("admin:django_restate_invocation_changelist", current_app=request.current_app)

    def filtered(**filters: str) -> str:
        return f"{invocations}?{urlencode(filters)}"

    statuses = [
        {"status": status, "count": n, "url": filtered(status=status), "class": f"restate-status-{status}"}
        for status, n in sorted(tallies["per_status"].items(), key=lambda item: -item[1])
    ]
    services = [
        {
            "name": name,
            "service_url": link("admin:django_restate_registeredservice_detail", name, current_app=request.current_app),
            "counts": counts_of,
            "url": filtered(service=name),
            "trouble": sum(counts_of.get(s, 0) for s in TROUBLE),
            "failed_url": filtered(service=name, status="failed"),
            "backing_off_url": filtered(service=name, status="backing-off"),
        }
        for name, counts_of in sorted(tallies["per_service"].items())
    ]
    return render(
        request,
        model_admin,
        "overview.html",
        "Restate overview",
        {
            "statuses": statuses,
            "total": sum(tallies["per_status"].values()),
            "services": services,
            "failing": failing[:FAILING_SHOWN],
            "more_failing": len(failing) > FAILING_SHOWN,
            "trouble_url": filtered(status="backing-off"),
            "health": health,
            "in_code": len(list(registry)),
            "restate_ui": _http.redact_url(restate_settings.ADMIN_URL.rstrip("/") + "/ui/"),
            "restate_error": restate.error,
        },
    )

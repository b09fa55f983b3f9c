"""Deployments page, and registering this project's deployment the way ``restate_register`` does."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.models import ADDITION
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .._http import redact_url
from ..admin_api import get_admin_api
from ..admin_api.queries import parse_time
from ..conf import restate_settings
from ..deployments import DeploymentUnreachable, Registration, our_deployment_ids, register
from ..models import Deployment
from .base import RESTATE_ERRORS, ModelAdmin, live, log, render, require

REGISTER_PERMISSION = "django_restate.register_deployment"


def deployment_list(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    deployments: list[dict[str, Any]] = []
    ours: set[str] = set()
    cluster: dict[str, Any] = {}
    with live() as restate:
        deployments = restate.api.deployments()
        ours = set(our_deployment_ids(restate.api))
        cluster = restate.api.cluster_health()
    rows = [
        {
            **d,
            "created": parse_time(d.get("created_at")),
            "ours": d.get("id") in ours,
            "endpoint": redact_url(str(d.get("uri") or d.get("arn") or "")),
        }
        for d in sorted(deployments, key=lambda d: str(d.get("created_at", "")), reverse=True)
    ]
    return render(
        request,
        model_admin,
        "deployments.html",
        "Restate deployments",
        {
            "deployments": rows,
            "deployment_url": redact_url(restate_settings.DEPLOYMENT_URL),
            "can_register": request.user.has_perm(REGISTER_PERMISSION),
            "restate_error": restate.error,
            "cluster_name": cluster.get("cluster_name"),
            "metadata_nodes": sorted((cluster.get("metadata_cluster_health") or {}).get("members") or []),
        },
    )


def register_deployment(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """GET: what registering would do (a dry run). POST: register DEPLOYMENT_URL with Restate."""
    require(request.user.has_perm(REGISTER_PERMISSION))
    uri = restate_settings.DEPLOYMENT_URL
    shown = redact_url(uri)  # what the page and the admin log say: no credentials
    back = reverse("admin:django_restate_deployment_changelist", current_app=request.current_app)
    dry_run = request.method != "POST"
    result: Registration | None = None
    problem: str | None = None
    try:
        result = register(get_admin_api(), uri, dry_run=dry_run)
    except (DeploymentUnreachable, *RESTATE_ERRORS) as exc:
        problem = str(exc)
    if dry_run:
        title = "Register this project's deployment"
        context = {"uri": shown, "result": result, "problem": problem}
        return render(request, model_admin, "deployment_register.html", title, context)
    if result is None:
        messages.error(request, f"The deployment was not registered. {problem}")
        return HttpResponseRedirect(back)
    names = ", ".join(sorted(s.get("name", "?") for s in result.services)) or "no services"
    log(
        request,
        Deployment,
        result.deployment_id or shown,
        shown,
        ADDITION,
        f"Registered {shown} ({result.protocol}): {names}.",
    )
    messages.success(request, f"Registered {shown} as {result.deployment_id} over {result.protocol}: {names}.")
    return HttpResponseRedirect(back)

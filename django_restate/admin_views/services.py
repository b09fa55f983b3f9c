"""Services page: what Restate has registered, its handlers, and whether the code still matches."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

from ..deployments import drift, our_deployment_ids, served_services
from ..registry import registry
from .base import ModelAdmin, live, render, require


def drift_by_service(lines: list[str]) -> dict[str, list[str]]:
    """``deployments.drift`` lines grouped by the service they name ("Cart.add_item: ..." -> Cart)."""
    grouped: dict[str, list[str]] = {}
    for line in lines:
        name = line.split(":", 1)[0].split(".", 1)[0]
        grouped.setdefault(name, []).append(line)
    return grouped


def service_list(request: HttpRequest, model_admin: ModelAdmin) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    services: list[dict[str, Any]] = []
    differences: dict[str, list[str]] = {}
    with live() as restate:
        services = sorted(restate.api.services(), key=lambda s: s["name"])
        differences = drift_by_service(drift(services, deployment_ids=our_deployment_ids(restate.api)))
    error = restate.error
    registered = {s["name"] for s in services}
    rows = [
        {
            **service,
            "handler_count": len(service.get("handlers", [])),
            "in_code": service["name"] in registry,
            "drift": differences.get(service["name"], []),
        }
        for service in services
    ]
    # Services this deployment serves but Restate does not know yet.
    missing = [
        {"name": spec.name, "ty": spec.sdk_type, "drift": differences.get(spec.name, [])}
        for spec in served_services()
        if spec.name not in registered
    ]
    return render(
        request,
        model_admin,
        "services.html",
        "Restate services",
        {"services": rows, "missing": missing if error is None else [], "restate_error": error},
    )


def service_detail(request: HttpRequest, model_admin: ModelAdmin, name: str) -> TemplateResponse:
    require(model_admin.has_view_permission(request))
    service: dict[str, Any] | None = None
    differences: list[str] = []
    with live() as restate:
        matching = [s for s in restate.api.services() if s["name"] == name]
        if matching:
            service = restate.api.service(name)
            ours = our_deployment_ids(restate.api)
            differences = drift_by_service(drift(matching, deployment_ids=ours)).get(name, [])
    error = restate.error
    spec = registry.get(name) if name in registry else None
    return render(
        request,
        model_admin,
        "service_detail.html",
        f"Service {name}",
        {
            "name": name,
            "service": service,
            "handlers": [with_schemas(h) for h in sorted((service or {}).get("handlers", []), key=lambda h: h["name"])],
            "spec": spec,
            "drift": differences,
            "keyed": (service or {}).get("ty") in ("VirtualObject", "Workflow"),
            "can_invoke": request.user.has_perm("django_restate.invoke_handler"),
            "restate_error": error,
        },
        status=404 if service is None and spec is None and error is None else 200,
    )


def with_schemas(handler: dict[str, Any]) -> dict[str, Any]:
    """A handler with its input and output JSON schemas pretty-printed for the page."""
    out = dict(handler)
    for direction in ("input", "output"):
        schema = handler.get(f"{direction}_json_schema")
        out[f"{direction}_schema"] = json.dumps(schema, indent=2) if schema is not None else ""
    return out

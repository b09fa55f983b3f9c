"""Register this project's deployment with Restate, and compare what Restate has with the code.

Shared by ``manage.py restate_register`` and the admin's deployments page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._http import redact_text, redact_url, tls_context
from .admin_api import AdminAPI
from .conf import restate_settings
from .exceptions import RestateError
from .reflect import ServiceSpec
from .registry import registry


class DeploymentUnreachable(RestateError, ConnectionError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"Cannot reach the deployment at {redact_url(url)}: {redact_text(reason)}. "
            "Is the Django ASGI server running, and does RESTATE['DEPLOYMENT_URL'] point at its endpoint?"
        )
        self.url = redact_url(url)


@dataclass
class Registration:
    deployment_id: str | None
    uri: str
    use_http_11: bool
    services: list[dict[str, Any]] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        return "HTTP/1.1 (request/response)" if self.use_http_11 else "HTTP/2 (bidirectional streaming)"


def detect_http11(url: str, timeout: float = 5.0) -> bool:
    """Whether Restate must talk HTTP/1.1 to ``url``: True unless the endpoint speaks HTTP/2
    with prior knowledge (h2c, e.g. hypercorn)."""
    forced = restate_settings.PROTOCOL
    if forced in ("http1", "http2"):
        return bool(forced == "http1")
    discover = url.rstrip("/") + "/discover"
    try:
        with httpx.Client(http1=False, http2=True, timeout=timeout, verify=tls_context()) as h2:
            h2.get(discover)
        return False
    except httpx.HTTPError:
        pass
    try:
        with httpx.Client(timeout=timeout, verify=tls_context()) as h1:
            h1.get(discover)
        return True
    except httpx.HTTPError as exc:
        raise DeploymentUnreachable(url, str(exc) or type(exc).__name__) from None


def register(
    admin: AdminAPI,
    uri: str | None = None,
    *,
    force: bool = True,
    dry_run: bool = False,
    deployment_headers: dict[str, str] | None = None,
) -> Registration:
    uri = uri or restate_settings.DEPLOYMENT_URL
    admin.health()  # an unreachable admin API is reported as such, before probing the deployment
    use_http_11 = detect_http11(uri)
    headers = {**restate_settings.DEPLOYMENT_HEADERS, **(deployment_headers or {})}
    answer = admin.register_deployment(
        uri, use_http_11=use_http_11, force=force, dry_run=dry_run, additional_headers=headers or None
    )
    return Registration(
        deployment_id=answer.get("id"), uri=uri, use_http_11=use_http_11, services=list(answer.get("services", []))
    )


def served_services(names: Iterable[str] | None = None) -> list[ServiceSpec]:
    """The services this deployment serves: ``names``, else ``RESTATE["SERVICES"]``, else all of the
    registry. What the endpoint serves, and what ``restate_register --check`` and the admin's drift
    view compare with Restate."""
    return registry.served(names)


def expected(spec: ServiceSpec) -> dict[str, Any]:
    """What Restate should report for one handler class, in the admin API's terms."""
    return {
        "type": spec.sdk_type,
        "handlers": {h.name: h.sdk_type for h in spec.handlers},
    }


def drift(
    server_services: Iterable[dict[str, Any]],
    specs: Iterable[ServiceSpec] | None = None,
    deployment_ids: Iterable[str] = (),
) -> list[str]:
    """Differences between the code and the server, one readable line each.

    ``specs`` defaults to :func:`served_services` (a deployment that serves a subset is compared
    on that subset). Services the server has but ``specs`` lacks are reported only when they
    belong to one of ``deployment_ids`` (this project's deployments): other deployments may
    serve other teams' services, or the rest of this project's.
    """
    ours = set(deployment_ids)
    code = {spec.name: expected(spec) for spec in (served_services() if specs is None else specs)}
    server = {s["name"]: s for s in server_services}
    lines = []
    for name, want in sorted(code.items()):
        have = server.get(name)
        if have is None:
            lines.append(f"{name}: in the code, not registered with Restate")
            continue
        if have.get("ty") != want["type"]:
            lines.append(f"{name}: Restate has a {have.get('ty')}, the code a {want['type']}")
        have_handlers = {h["name"]: h.get("ty") for h in have.get("handlers", [])}
        for handler_name, kind in sorted(want["handlers"].items()):
            if handler_name not in have_handlers:
                lines.append(f"{name}.{handler_name}: in the code, not registered with Restate")
            elif kind is not None and have_handlers[handler_name] != kind:
                lines.append(f"{name}.{handler_name}: Restate has {have_handlers[handler_name]}, the code {kind}")
        for handler_name in sorted(set(have_handlers) - set(want["handlers"])):
            lines.append(f"{name}.{handler_name}: registered with Restate, no longer in the code")
    for name, have in sorted(server.items()):
        if name not in code and have.get("deployment_id") in ours:
            if name in registry:
                lines.append(
                    f"{name}: registered from this deployment, which no longer serves it (RESTATE['SERVICES'])"
                )
            else:
                lines.append(f"{name}: registered from this deployment, no longer in the code")
    return lines


def our_deployment_ids(admin: AdminAPI, uri: str | None = None) -> list[str]:
    uri = (uri or restate_settings.DEPLOYMENT_URL).rstrip("/")
    return [d["id"] for d in admin.deployments() if str(d.get("uri", "")).rstrip("/") == uri]


@dataclass
class Superseded:
    """A deployment whose services are all served by a newer one, and what still runs on it."""

    deployment_id: str
    uri: str
    #: Invocations that started on it and have not completed: Restate keeps them on it until they end.
    pinned: int

    @property
    def drained(self) -> bool:
        return self.pinned == 0


def superseded(admin: AdminAPI, current: Registration) -> list[Superseded]:
    """Deployments that ``current`` replaced: every service they registered is served by it now.

    A rolling deploy registers the new revision under a new URL while the old replicas still
    serve what was started on the old one (Restate pins an invocation to the deployment it
    started on). The old deployment can go once nothing is pinned to it any more.

    What ``current`` serves comes from the registration's own answer: on a cluster, the node
    that answers the next request may not have learnt of the new revision yet.
    """
    from .admin_api.sql import quote

    serves = {s["name"] for s in current.services}
    found = []
    for deployment in admin.deployments():
        ident = str(deployment.get("id", ""))
        names = [s["name"] for s in deployment.get("services", [])]
        if ident == current.deployment_id or not names or not serves.issuperset(names):
            continue
        rows = admin.query(
            "SELECT COUNT(*) AS n FROM sys_invocation "
            f"WHERE pinned_deployment_id = {quote(ident)} AND status <> 'completed'"
        )
        found.append(Superseded(ident, str(deployment.get("uri", "")), int(rows[0]["n"]) if rows else 0))
    return found


def prune(admin: AdminAPI, old: Iterable[Superseded]) -> list[Superseded]:
    """Remove the drained ones of ``old``; returns those removed. One still draining is left alone."""
    removed = []
    for deployment in old:
        if deployment.drained:
            admin.delete_deployment(deployment.deployment_id, force=True)
            removed.append(deployment)
    return removed

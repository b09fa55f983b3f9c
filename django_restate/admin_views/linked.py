"""A model row and the Restate object it belongs to, on the model's own change page.

:class:`django_restate.admin.RestateObjectMixin` calls :func:`restate_object` with the
service and key of the row; this gathers what the page shows: the object's state, a workflow's
promises, its recent invocations, and links to the Restate pages and the invoke form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from .. import _http
from ..admin_api import queries
from ..conf import restate_settings
from ..state import decode_value
from .base import link, live
from .instances import instance_url
from .invocations import decorate

RECENT = 10


def restate_object(request: HttpRequest, service: str, key: str) -> dict[str, Any]:
    """What the change page shows about ``service``/``key``, as far as the user may see it."""
    user = request.user
    app = request.current_app
    can_state = user.has_perm("django_restate.view_state")
    can_invocations = user.has_perm("django_restate.view_invocation")
    can_invoke = user.has_perm("django_restate.invoke_handler")
    found: dict[str, Any] = {"service": service, "key": key, "state": [], "promises": [], "recent": []}
    handlers: list[str] = []
    kind = None
    with live() as restate:
        info = restate.api.service(service)
        kind = info.get("ty")
        handlers = sorted(str(h.get("name")) for h in info.get("handlers", []))
        if can_state:
            state = queries.state(restate.api, service, key)
            found["state"] = [{"key": k, "value": decode_value(v)} for k, v in sorted(state.items())]
            if kind == "Workflow":
                found["promises"] = queries.promises(restate.api, service, key)
        if can_invocations:
            page = queries.invocations(restate.api, queries.InvocationFilter(service=service, key=key), 1)
            found["recent"] = [decorate(row, current_app=app) for row in page.rows[:RECENT]]
    invocations = reverse("admin:django_restate_invocation_changelist", current_app=app)
    found.update(
        {
            "kind": kind,
            "restate_error": restate.error,
            "can_state": can_state,
            "can_invocations": can_invocations,
            "instance_url": instance_url(service, key, current_app=app) if can_state else None,
            "invocations_url": f"{invocations}?{urlencode({'service': service, 'key': key})}",
            "service_url": link("admin:django_restate_registeredservice_detail", service, current_app=app),
            "invoke": [
                {"handler": name, "url": f"{url}?{urlencode({'key': key})}"}
                for name in handlers
                if can_invoke
                and (url := link("admin:django_restate_registeredservice_invoke", service, name, current_app=app))
            ],
            "restate_ui": _http.redact_url(restate_settings.ADMIN_URL.rstrip("/") + "/ui/"),
        }
    )
    return found

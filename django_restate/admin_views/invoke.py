"""Invoke a handler from the admin (Restate's UI calls it the playground).

The form is built from the handler's input JSON schema as the SDK announced it to Restate
(:mod:`.schema_form`), with a JSON editor for any input; keyed services ask for the key.
"Call" sends the invocation and waits a little for its result; "send" only starts it (with an
optional delay). Either way the page names the invocation it made and links to it. Invoking
needs ``django_restate.invoke_handler``; each invocation is written to the admin log.

Requests go to the ingress (``RESTATE["INGRESS_URL"]``) like any caller's: they are not the
client's typed references because a registered service need not be in this project's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from django import forms
from django.contrib.admin.models import ADDITION
from django.http import Http404, HttpRequest, HttpResponse

from .. import _http
from ..admin_api import AdminAPI, AdminAPIError
from ..models import RegisteredService
from ..state import DecodedValue, decode_value
from .base import ModelAdmin, live, log, render, require
from .forms import MAX_KEY
from .schema_form import BODY, JSONInputField, input_from, schema_fields

INVOKE_PERMISSION = "django_restate.invoke_handler"
#: How long "call" waits for the result before showing the invocation as still running.
CALL_WAIT = 10.0
MAX_DELAY = 365 * 24 * 3600
KEYED = ("VirtualObject", "Workflow")


class InvokeForm(forms.Form):
    """How to invoke (key, call or send, delay, idempotency key), then the handler's input."""

    key = forms.CharField(max_length=MAX_KEY, strip=False, help_text="The object key or workflow id.")
    mode = forms.ChoiceField(
        choices=[("call", "Call: wait for the result"), ("send", "Send: start it and do not wait")],
        initial="call",
        widget=forms.RadioSelect,
    )
    delay = forms.FloatField(
        required=False, min_value=0, max_value=MAX_DELAY, label="Delay (seconds)", help_text="Send only."
    )
    idempotency_key = forms.CharField(
        required=False,
        max_length=255,
        help_text="The same key again returns the first invocation instead of making a new one.",
    )
    editor = forms.ChoiceField(
        choices=[("form", "form"), ("json", "json")], widget=forms.HiddenInput, initial="form", required=False
    )

    def __init__(self, data: Any, *, keyed: bool, schema: Any, takes_input: bool, editor: str, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.schema = schema
        if not keyed:
            del self.fields["key"]
        typed = schema_fields(schema) if takes_input and editor != "json" else None
        self.input_editor = "none" if not takes_input else "form" if typed is not None else "json"
        self.fields["editor"].initial = self.input_editor
        if typed is not None:
            self.fields.update(typed)
        elif takes_input:
            example = json.dumps(schema, indent=2)[:1000] if schema else "any JSON value"
            self.fields[BODY] = JSONInputField(label="Input (JSON)", required=False, help_text=f"Schema: {example}")
            self.fields[BODY].widget.attrs["rows"] = 8

    OPTIONS = ("key", "mode", "delay", "idempotency_key")

    @property
    def option_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.OPTIONS if name in self.fields]

    @property
    def input_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in (*self.OPTIONS, "editor")]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mode") == "call" and data.get("delay"):
            self.add_error("delay", "A delay applies to a send only; choose send, or leave the delay empty.")
        return data

    def body(self) -> bytes:
        """The encoded input; call after ``is_valid()``."""
        if self.input_editor == "none":
            return b""
        value = (
            self.cleaned_data.get(BODY) if self.input_editor == "json" else input_from(self.cleaned_data, self.schema)
        )
        return json.dumps(value).encode()


@dataclass
class Outcome:
    """What came of an invocation: its id, and a result, an error, or that it still runs."""

    invocation_id: str | None = None
    status: str | None = None  # "Accepted" / "PreviouslyAccepted"
    result: DecodedValue | None = None
    error: str | None = None
    running: bool = False


def invoke(
    service: str,
    handler: str,
    key: str | None,
    body: bytes,
    *,
    mode: str,
    delay: float | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Send the invocation through the ingress; for a call, then wait for its result a while."""
    where = _http.shared_target("INGRESS")
    ingress = _http.shared_client("INGRESS")
    parts = [service, key, handler] if key is not None else [service, handler]
    path = "/" + "/".join(_http.path_segment(part) for part in parts) + "/send"
    headers = {"content-type": "application/json"} if body else {}
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key
    params = {"delay": f"{int(delay * 1000)}ms"} if delay else None
    try:
        answer = ingress.post(path, content=body, headers=headers, params=params)
    except httpx.TransportError as exc:
        return Outcome(error=unreachable(where, exc))
    if answer.status_code >= 400:
        return Outcome(error=f"Restate refused the invocation ({answer.status_code}): {_http.response_message(answer)}")
    try:
        accepted = answer.json()
        outcome = Outcome(invocation_id=str(accepted["invocationId"]), status=accepted.get("status"))
    except (ValueError, KeyError, TypeError):
        return Outcome(error="The Restate ingress answered with something that is not an invocation.")
    if mode != "call":
        return outcome
    try:
        result = ingress.get(
            f"/restate/invocation/{_http.path_segment(str(outcome.invocation_id))}/attach", timeout=CALL_WAIT
        )
    except httpx.TimeoutException:
        outcome.running = True
        return outcome
    except httpx.TransportError as exc:
        outcome.error = unreachable(where, exc)
        return outcome
    if result.status_code >= 400:
        outcome.error = f"The handler failed ({result.status_code}): {_http.response_message(result)}"
    else:
        outcome.result = decode_value(result.content)
    return outcome


def unreachable(where: _http.Target, exc: httpx.TransportError) -> str:
    if _http.is_timeout(exc):
        return f"The Restate ingress at {where.safe_url} did not answer in time; the invocation may still start."
    return f"Cannot reach the Restate ingress at {where.safe_url}: {_http.failure_reason(exc)}"


def handler_info(api: AdminAPI, name: str, handler: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The service and handler as Restate has them registered; Http404 when there is no such handler."""
    try:
        service = api.service(name)
    except AdminAPIError as exc:
        if exc.status == 404:
            raise Http404(f"Restate has no service {name!r}.") from None
        raise
    for info in service.get("handlers", []):
        if info.get("name") == handler:
            return service, info
    raise Http404(f"The service {name!r} has no handler {handler!r}.")


def invoke_handler(request: HttpRequest, model_admin: ModelAdmin, name: str, handler: str) -> HttpResponse:
    """GET: the form (``?key=`` pre-fills the key, ``?editor=json`` the JSON editor). POST: invoke."""
    require(request.user.has_perm(INVOKE_PERMISSION))
    source = request.POST if request.method == "POST" else request.GET
    outcome = None
    with live() as restate:
        service, info = handler_info(restate.api, name, handler)
    if restate.error:
        return render(request, model_admin, "invoke.html", f"Invoke {name}/{handler}", {"restate_error": restate.error})
    keyed = service.get("ty") in KEYED
    form = InvokeForm(
        request.POST if request.method == "POST" else None,
        keyed=keyed,
        schema=info.get("input_json_schema"),
        takes_input=takes_input(info),
        editor=str(source.get("editor", "form")),
        initial={"key": request.GET.get("key", "")},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        key = data.get("key") if keyed else None
        outcome = invoke(
            name,
            handler,
            key,
            form.body(),
            mode=data["mode"],
            delay=data.get("delay"),
            idempotency_key=data.get("idempotency_key") or None,
        )
        if outcome.invocation_id:
            target = "/".join(p for p in (name, key, handler) if p is not None)
            verb = "Called" if data["mode"] == "call" else "Sent"
            log(
                request,
                RegisteredService,
                outcome.invocation_id,
                target,
                ADDITION,
                f"{verb} {target} from the admin: invocation {outcome.invocation_id}.",
            )
    return render(
        request,
        model_admin,
        "invoke.html",
        f"Invoke {name}/{handler}",
        {
            "service": service,
            "handler": info,
            "name": name,
            "handler_name": handler,
            "form": form,
            "outcome": outcome,
            "schema": json.dumps(info.get("input_json_schema"), indent=2) if info.get("input_json_schema") else "",
        },
    )


def takes_input(info: dict[str, Any]) -> bool:
    """Whether the handler reads an input: the SDK announces no input schema and "none" when it takes none."""
    return bool(info.get("input_json_schema")) or str(info.get("input_description", "")).strip().lower() != "none"

"""The ``RESTATE`` setting: one namespaced dict, read lazily, with defaults.

Modules ask ``restate_settings.ADMIN_URL`` at the moment they need it, never at
import time, so ``override_settings(RESTATE=...)`` in tests takes effect at once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Restate admin API (registration, admin pages).
    "ADMIN_URL": "http://127.0.0.1:9070",
    # Restate ingress, used by django_restate.client.
    "INGRESS_URL": "http://127.0.0.1:8080",
    # Where the Restate server reaches this Django project's endpoint.
    "DEPLOYMENT_URL": "http://127.0.0.1:8000/restate",
    # Path prefix under which the ASGI application serves the endpoint.
    "ENDPOINT_PATH": "/restate/",
    # get_asgi_application(): each Django request's sync code runs in a thread of its own, as Django
    # runs it, taken from a pool and reused instead of started (and joined) per request; False: Django's own.
    "REUSE_REQUEST_THREADS": True,
    # Request-signing public keys (``publickeyv1_...``); empty means unsigned requests pass.
    "IDENTITY_KEYS": [],
    # Extra headers sent with every admin API request, e.g. {"Authorization": "Bearer ..."}.
    "ADMIN_HEADERS": {},
    # Extra headers sent with every ingress request made by the client.
    "INGRESS_HEADERS": {},
    # Headers Restate must send when it calls the deployment (Restate Cloud tunnels, gateways).
    "DEPLOYMENT_HEADERS": {},
    # Seconds to wait for the admin API / ingress before giving up.
    "TIMEOUT": 30.0,
    # Force the protocol used at registration: None detects it, "http1" or "http2" force it.
    "PROTOCOL": None,
    # The services this deployment serves, by Restate name (e.g. ["Cart", "Checkout"]); None serves
    # every registered one. The endpoint, restate_register, --check, the checks and the admin follow it.
    "SERVICES": None,
    # OpenTelemetry (the otel extra): None traces when opentelemetry is installed and a tracer provider
    # is set when the endpoint is built; True or False force it. Client calls carry the current trace
    # (traceparent), handler attempts open spans under Restate's (see docs/tracing.md).
    "TRACING": None,
    # Header names (or fnmatch patterns, case-insensitive) whose values the admin never shows in a
    # journal; the names in ADMIN_HEADERS, INGRESS_HEADERS and DEPLOYMENT_HEADERS are redacted too.
    "REDACT_HEADERS": [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "*api-key*",
        "*apikey*",
        "*token*",
        "*secret*",
        "*password*",
        "*session*",
        "*signature*",
        "*credential*",
        "x-auth*",
    ],
    # Backpressure (django_restate.backpressure): with N, a client send (without a delay) made while
    # this process has N or more invocations in flight (attempts its endpoint runs, and those its
    # sends started that have not reached it yet) waits until one finishes; None never waits. See
    # docs/serving.md, "Backpressure".
    "BACKPRESSURE": None,
    # The longest (seconds) a send waits for its turn under BACKPRESSURE; then it is sent anyway.
    "BACKPRESSURE_TIMEOUT": 2.0,
    # The transactional outbox (django_restate.outbox): run a relay inside the ASGI application
    # (started and stopped with its lifespan); False when `manage.py restate_relay` runs elsewhere.
    "OUTBOX_RELAY": True,
    # Seconds between a relay's looks for rows to send when there is nothing to do.
    "OUTBOX_POLL_INTERVAL": 1.0,
    # Seconds (or a timedelta) delivered rows are kept before a relay deletes them; None keeps them.
    "OUTBOX_RETENTION": 24 * 3600,
    # Seconds (or a timedelta) the records of atomic_step(once=True) runs are kept (the relay deletes
    # older ones); keep them longer than any invocation runs, or a very late repeat runs again.
    "STEP_RETENTION": 7 * 24 * 3600,
    # Seconds (or a timedelta) after which a pending row is overdue: no relay sends it any more,
    # because Restate may have forgotten its idempotency key (24 h by default) and run it twice.
    "OUTBOX_OVERDUE_AFTER": 23 * 3600,
}


class RestateSettings:
    """Attribute access to ``settings.RESTATE`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "RESTATE", None) or {}
        return dict(value) if isinstance(value, dict) else {}

    def unknown_keys(self) -> list[str]:
        return sorted(set(self.user_settings) - set(DEFAULTS))

    def as_dict(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = {**DEFAULTS, **self.user_settings}
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Invalid RESTATE setting: {name!r}")
        return self.as_dict()[name]

    def reload(self) -> None:
        self._cache = None


restate_settings = RestateSettings()


@receiver(setting_changed)
def _reload_restate_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "RESTATE":
        restate_settings.reload()

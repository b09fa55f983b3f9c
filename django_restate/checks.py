"""System checks for django_restate (``python manage.py check``)."""

from __future__ import annotations

import difflib
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from ._http import redact_url
from .conf import DEFAULTS, restate_settings
from .registry import registry

URL_KEYS = ("ADMIN_URL", "INGRESS_URL", "DEPLOYMENT_URL")


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    raw = getattr(settings, "RESTATE", {})
    if not isinstance(raw, dict):
        return [
            Error(
                f"RESTATE must be a dict, not {type(raw).__name__}.",
                hint='Write RESTATE = {"ADMIN_URL": "http://127.0.0.1:9070", ...} in your settings.',
                id="django_restate.E001",
            )
        ]
    problems: list[Error | Warning] = []
    for key in restate_settings.unknown_keys():
        hint = did_you_mean(key, sorted(DEFAULTS), "Valid keys")
        problems.append(Error(f"Unknown key RESTATE[{key!r}].", hint=hint, id="django_restate.E002"))
    for key in URL_KEYS:
        value = restate_settings.as_dict()[key]
        if not is_http_url(value):
            problems.append(
                Error(
                    f"RESTATE[{key!r}] is not an http(s) URL: {redact_url(str(value))!r}.",
                    hint=f"Use a full URL such as {DEFAULTS[key]!r}.",
                    id="django_restate.E003",
                )
            )
    keys = restate_settings.IDENTITY_KEYS
    if not isinstance(keys, (list, tuple)) or not all(
        isinstance(k, str) and k.startswith("publickeyv1_") for k in keys
    ):
        problems.append(
            Error(
                "RESTATE['IDENTITY_KEYS'] must be a list of 'publickeyv1_...' strings.",
                hint="Copy the public key the Restate server prints for its request-identity key.",
                id="django_restate.E004",
            )
        )
    elif not keys and not settings.DEBUG:
        problems.append(
            Warning(
                "RESTATE['IDENTITY_KEYS'] is empty while DEBUG is False: anyone who can reach the "
                "endpoint can invoke your handlers.",
                hint="Configure request signing on the Restate server and list its public key in IDENTITY_KEYS.",
                id="django_restate.W001",
            )
        )
    problems.extend(check_endpoint_path())
    problems.extend(check_tracing())
    problems.extend(check_backpressure())
    return problems


def check_backpressure() -> list[Error | Warning]:
    limit = restate_settings.BACKPRESSURE
    problems: list[Error | Warning] = []
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        problems.append(
            Error(
                f"RESTATE['BACKPRESSURE'] must be None or a whole number of invocations >= 1, not {limit!r}.",
                hint="Leave it out (sends never wait), or write e.g. 12: see docs/serving.md for how to choose it.",
                id="django_restate.E009",
            )
        )
    hint = "The longest a send waits for its turn before it goes anyway, e.g. 2.0."
    problems += seconds_problems("BACKPRESSURE_TIMEOUT", hint, "django_restate.E009")
    return problems


def check_tracing() -> list[Error | Warning]:
    from . import tracing

    value = restate_settings.TRACING
    if value not in (None, True, False):
        return [
            Error(
                f"RESTATE['TRACING'] must be None, True or False, not {value!r}.",
                hint="Leave it out (None: trace when OpenTelemetry is set up), or force it with True or False.",
                id="django_restate.E008",
            )
        ]
    if value is True and not tracing.available():
        return [
            Error(
                "RESTATE['TRACING'] is True but OpenTelemetry is not installed, so nothing is traced.",
                hint="pip install 'django-restate[otel]', or set TRACING to None.",
                id="django_restate.E008",
            )
        ]
    return []


def check_endpoint_path() -> list[Error | Warning]:
    deployment = restate_settings.DEPLOYMENT_URL
    prefix = "/" + str(restate_settings.ENDPOINT_PATH).strip("/")
    if not is_http_url(deployment):
        return []
    path = urlsplit(deployment).path.rstrip("/") or "/"
    if path == prefix or path.startswith(prefix + "/"):
        return []
    return [
        Error(
            f"RESTATE['DEPLOYMENT_URL'] ({deployment}) does not point at the endpoint, which is served "
            f"under {prefix}/.",
            hint=f"End DEPLOYMENT_URL with {prefix}, or change RESTATE['ENDPOINT_PATH'].",
            id="django_restate.E005",
        )
    ]


@register(Tags.compatibility)
def check_registry(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [
        Error(
            str(conflict),
            hint='Give one of the classes another name: `class Meta: name = "..."`.',
            id="django_restate.E006",
        )
        for conflict in registry.conflicts
    ]


@register(Tags.compatibility)
def check_served_services(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``RESTATE["SERVICES"]``: None, or a list of registered service names."""
    return served_problems(restate_settings.SERVICES, "RESTATE['SERVICES']")


def served_problems(names: Any, where: str) -> list[Error]:
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        return [
            Error(
                f"{where} must be None or a list of service names, not {names!r}.",
                hint='Write a list of names as Restate knows them, e.g. ["Cart", "Checkout"] '
                "(manage.py restate_services lists them).",
                id="django_restate.E007",
            )
        ]
    known = sorted(s.name for s in registry)
    return [
        Error(
            f"{where} names {name!r}, which is not a registered Restate service.",
            hint=did_you_mean(name, known, "Registered"),
            id="django_restate.E007",
        )
        for name in names
        if name not in registry
    ]


def did_you_mean(word: str, choices: list[str], listed: str) -> str:
    """ "Did you mean 'X'?" for the closest choice, else all of them after ``listed``."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f"Did you mean {close[0]!r}?" if close else f"{listed}: {', '.join(choices) or 'none'}."


@register(Tags.compatibility)
def check_asgi_mount(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    from django.utils.module_loading import import_string

    from .asgi import RestateEndpoint

    path = getattr(settings, "ASGI_APPLICATION", None)
    hint = (
        "Set ASGI_APPLICATION to an asgi.py whose application is django_restate.asgi.get_asgi_application() "
        "(or mounts restate_urlpattern() in a Channels URLRouter)."
    )
    if not path:
        return [
            Warning(
                "ASGI_APPLICATION is not set, so nothing serves the Restate endpoint.",
                hint=hint,
                id="django_restate.W002",
            )
        ]
    try:
        application = import_string(path)
    except ImportError as exc:
        return [Warning(f"ASGI_APPLICATION {path!r} cannot be imported: {exc}", hint=hint, id="django_restate.W002")]
    endpoints = [node for node in walk_asgi(application) if isinstance(node, RestateEndpoint)]
    if not endpoints:
        return [
            Warning(
                f"ASGI_APPLICATION {path!r} does not mount the Restate endpoint.", hint=hint, id="django_restate.W002"
            )
        ]
    problems: list[Error | Warning] = []
    for endpoint in endpoints:
        problems.extend(served_problems(endpoint.services, f"The endpoint in ASGI_APPLICATION {path!r} (services=)"))
    return problems


def walk_asgi(app: Any, depth: int = 0) -> list[Any]:
    """The ASGI apps reachable from ``app`` through routers we know (ours, Channels')."""
    if depth > 8 or app is None:
        return []
    found = [app]
    children: list[Any] = [
        getattr(app, name, None) for name in ("endpoint", "django_app", "application", "inner", "app")
    ]
    children += list(getattr(app, "application_mapping", {}).values())
    children += [getattr(route, "callback", None) for route in getattr(app, "routes", [])]
    for child in children:
        if child is not None and child is not app:
            found.extend(walk_asgi(child, depth + 1))
    return found


def seconds_problems(key: str, hint: str, check: str) -> list[Error | Warning]:
    """The error ``check`` if ``RESTATE[key]`` is not a number of seconds > 0 (an int or a float;
    not a bool, not a string)."""
    value = restate_settings.as_dict()[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return []
    message = f"RESTATE[{key!r}] must be a number of seconds > 0, not {value!r}."
    return [Error(message, hint=hint, id=check)]


def is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)

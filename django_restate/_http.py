"""The one place that turns the ``RESTATE`` settings into an HTTP client for Restate's APIs.

Both clients of Restate, :mod:`django_restate.admin_api` (the admin API) and
:mod:`django_restate.client` (the ingress), resolve their URL, headers and timeout here,
get their ``httpx`` clients here (built once per settings object and rebuilt when
``override_settings(RESTATE=...)`` changes them), map ``httpx`` transport failures to our
exceptions here, and quote URL path segments here. So the two agree on what a setting
means and on what an error looks like.

Every URL that we print (banners, messages, logs, exceptions) goes through
:func:`redact_url` first: a user and password inside ``RESTATE["ADMIN_URL"]`` or
``RESTATE["INGRESS_URL"]`` are sent (``httpx`` turns them into basic auth) but never shown.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from django.core.signals import setting_changed
from django.dispatch import receiver

from .conf import restate_settings

Role = Literal["ADMIN", "INGRESS"]
C = TypeVar("C")

#: What each role is called in messages.
ROLE_NAMES: dict[Role, str] = {"ADMIN": "admin API", "INGRESS": "ingress"}


# -- printing URLs --------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` without the user and password of its authority: ``http://u:p@h:9070/x`` -> ``http://***@h:9070/x``.

    A URL without credentials is returned unchanged; text that is not a URL is returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _CREDENTIALS_IN_TEXT.sub(r"\1***@", url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


#: ``scheme://user:password@`` anywhere in a text (an exception message that quotes a URL).
_CREDENTIALS_IN_TEXT = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")


def redact_text(text: str) -> str:
    """``text`` with the credentials of every URL inside it replaced by ``***``."""
    return _CREDENTIALS_IN_TEXT.sub(r"\1***@", text)


# -- path segments --------------------------------------------------------------------------


def path_segment(value: str) -> str:
    """One URL path segment holding exactly ``value``, whatever the user typed.

    ``/`` and every other reserved character are percent-encoded, and so are the dot
    segments ``.`` and ``..``, which ``quote`` leaves alone and every HTTP client then
    resolves into another path (``/services/../state`` is ``/state``). ``%2E%2E`` is kept
    as it is by httpx and decoded back to ``..`` by Restate.
    """
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


# -- settings -> client ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one of Restate's HTTP APIs is, and how to talk to it, as the settings (and overrides) say."""

    role: Role
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0

    @property
    def name(self) -> str:
        """``"admin API"`` or ``"ingress"``."""
        return ROLE_NAMES[self.role]

    @property
    def safe_url(self) -> str:
        """The URL as it may be printed."""
        return redact_url(self.url)


def target(
    role: Role,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Target:
    """``RESTATE["<role>_URL"]``, ``RESTATE["<role>_HEADERS"]`` and ``RESTATE["TIMEOUT"]``, each
    replaced by the argument given; explicit headers are added to the configured ones."""
    conf = restate_settings.as_dict()
    return Target(
        role=role,
        url=str(url or conf[f"{role}_URL"]).rstrip("/"),
        headers={**conf[f"{role}_HEADERS"], **(headers or {})},
        timeout=float(timeout if timeout is not None else conf["TIMEOUT"]),
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once: building one reads the whole CA bundle,
    which costs tens of milliseconds."""
    return httpx.create_ssl_context()


def client_options(where: Target) -> dict[str, Any]:
    """What every ``httpx`` client for ``where`` is built with: base URL, headers, timeout, TLS."""
    return {"base_url": where.url, "headers": dict(where.headers), "timeout": where.timeout, "verify": tls_context()}


def build_client(where: Target, transport: httpx.BaseTransport | None = None, **options: Any) -> httpx.Client:
    """A new ``httpx.Client`` for ``where``; the caller closes it. ``options`` go to httpx as they are."""
    return httpx.Client(transport=transport, **{**client_options(where), **options})


def build_async_client(
    where: Target, transport: httpx.AsyncBaseTransport | None = None, **options: Any
) -> httpx.AsyncClient:
    """The async twin of :func:`build_client`."""
    return httpx.AsyncClient(transport=transport, **{**client_options(where), **options})


class _Shared:
    """The clients of one role, built from one settings object."""

    def __init__(self, where: Target) -> None:
        self.target = where
        self.sync: httpx.Client | None = None
        # An AsyncClient's connections belong to the loop that opened them.
        self.by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def close(self) -> None:
        if self.sync is not None:
            self.sync.close()
        # Async clients belong to their loops; dropping them lets those loops' transports go.
        self.by_loop.clear()


_shared: dict[Role, _Shared] = {}
_lock = threading.Lock()


def _current(role: Role) -> _Shared:
    shared = _shared.get(role)
    if shared is None:
        with _lock:
            shared = _shared.get(role)
            if shared is None:
                shared = _shared[role] = _Shared(target(role))
    return shared


def shared_target(role: Role) -> Target:
    """The :class:`Target` of ``role`` as the current settings say, worked out once per settings."""
    return _current(role).target


def shared_client(role: Role) -> httpx.Client:
    """One ``httpx.Client`` for ``role`` per settings object, reused by every caller and thread
    (httpx clients are thread-safe); rebuilt when the ``RESTATE`` setting changes."""
    shared = _current(role)
    if shared.sync is None:
        with _lock:
            if shared.sync is None:
                shared.sync = build_client(shared.target)
    return shared.sync


def shared_async_client(role: Role, build: Callable[[Target], C] | None = None) -> C | httpx.AsyncClient:
    """One async client for ``role`` per settings object and running event loop: an
    ``httpx.AsyncClient``, or what ``build(target)`` makes (the ingress's
    :class:`~django_restate.client.aio.AiohttpClient`)."""
    shared = _current(role)
    loop = asyncio.get_running_loop()
    http = shared.by_loop.get(loop)
    if http is None:
        http = shared.by_loop[loop] = build_async_client(shared.target) if build is None else build(shared.target)
    return http


def reset() -> None:
    """Forget the shared clients (closing the sync ones): the next request builds them from the settings."""
    with _lock:
        old = list(_shared.values())
        _shared.clear()
    for shared in old:
        shared.close()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "RESTATE":
        reset()


# -- transport failures -> our exceptions ---------------------------------------------------

E = TypeVar("E", bound=Exception)
T = TypeVar("T", bound=Exception)


def is_timeout(exc: httpx.TransportError) -> bool:
    """The server accepted the request but did not answer in time (it may still act on it)."""
    return isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout))


def failure_reason(exc: httpx.TransportError) -> str:
    """What went wrong, in a few words, with no credentials in it."""
    return redact_text(str(exc)) or type(exc).__name__


def transport_error(
    exc: httpx.TransportError,
    where: Target,
    *,
    unreachable: type[E],
    timed_out: type[T] | None = None,
) -> E | T:
    """The exception to raise for a failed request to ``where``.

    ``unreachable(url, reason)`` when nothing answered (refused, DNS, TLS, connect timeout),
    ``timed_out(url, timeout)`` when the server took the request and did not answer in time
    (only if the caller tells those apart). ``url`` is always redacted.
    """
    if timed_out is not None and is_timeout(exc):
        return timed_out(where.safe_url, where.timeout)
    return unreachable(where.safe_url, failure_reason(exc))


def response_message(response: httpx.Response, limit: int = 500) -> str:
    """The message of an error response: Restate's JSON ``message``, else the text, else the reason."""
    try:
        body = response.json()
    except ValueError:
        return redact_text(response.text.strip()[:limit]) or response.reason_phrase
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body)[:limit]

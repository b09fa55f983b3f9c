"""The HTTP client of the Restate admin API: one method per endpoint, one error mapping.

Every part of django_restate that talks to the admin API (``restate_register``,
the admin pages, the test tools) goes through :class:`AdminAPI`, so errors look
the same everywhere: :class:`AdminAPIUnreachable` when nothing answers at the
URL, :class:`AdminAPIError` when the server answers with an error. What the
``/query`` tables hold is read by :mod:`django_restate.admin_api.queries`.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from django.core.signals import setting_changed
from django.dispatch import receiver

from .. import _http
from ..exceptions import AdminAPIError, AdminAPIUnreachable

INVOCATION_ACTIONS = ("cancel", "kill", "pause", "resume", "purge")
#: Errors of ``/query`` that pass within moments (lower case, found anywhere in Restate's
#: message), so a query is retried briefly: right after a
#: (re)start partitions may have no leader yet, and while a cluster node is down or just back
#: the query engine cannot reach it ("connect throttled") until leadership moves.
TRANSIENT_QUERY_ERRORS = (
    "node lookup for partition",
    "doesn't exist on this node",
    "not the leader",
    "unavailable",
    "connect throttled",
    "expecting a partition store",
)
#: How long a query is retried through transient errors, and the pause between tries.
QUERY_RETRY_FOR = 10.0
QUERY_RETRY_PAUSE = 0.1


class AdminAPI:
    """The Restate admin API at ``RESTATE["ADMIN_URL"]`` (or ``url``).

    ``AdminAPI()`` uses the one ``httpx.Client`` shared per settings (see
    :mod:`django_restate._http`), so it costs nothing to create one per page; closing it
    leaves the shared client open. With ``url``, ``headers``, ``timeout`` or ``transport``
    given it opens its own client, which ``close()`` (or the ``with`` block) closes.
    """

    def __init__(
        self,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._owned = not (url is None and headers is None and timeout is None and transport is None)
        if self._owned:
            self.target = _http.target("ADMIN", url, headers, timeout)
            self.client = _http.build_client(self.target, transport)
        else:
            self.target = _http.shared_target("ADMIN")
            self.client = _http.shared_client("ADMIN")
        #: The base URL requests go to (it may hold credentials: print :attr:`safe_url`).
        self.url = self.target.url
        #: What was learnt about this server once (see :mod:`.partitions`, :mod:`.queries`);
        #: it lives as long as this client, so ``override_settings`` starts afresh.
        self.facts: dict[str, Any] = {}

    @property
    def safe_url(self) -> str:
        """The base URL without credentials, for messages and logs."""
        return self.target.safe_url

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> AdminAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _http.transport_error(exc, self.target, unreachable=AdminAPIUnreachable) from None
        if response.status_code >= 400:
            message = _http.response_message(response)
            raise AdminAPIError(method, f"{self.safe_url}{path}", response.status_code, message)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # -- health and deployments --------------------------------------------------------------

    def health(self) -> None:
        self.request("GET", "/health")

    def version(self) -> dict[str, Any]:
        return dict(self.request("GET", "/version"))

    def cluster_health(self) -> dict[str, Any]:
        """The cluster's name and its metadata servers' node ids (``GET /cluster-health``)."""
        return dict(self.request("GET", "/cluster-health"))

    def deployments(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/deployments")["deployments"])

    def register_deployment(
        self,
        uri: str,
        *,
        use_http_11: bool,
        force: bool = True,
        dry_run: bool = False,
        additional_headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"uri": uri, "use_http_11": use_http_11, "force": force, "dry_run": dry_run}
        if additional_headers:
            body["additional_headers"] = additional_headers
        return dict(self.request("POST", "/deployments", json=body))

    def delete_deployment(self, deployment_id: str, force: bool = True) -> None:
        self.request("DELETE", f"/deployments/{seg(deployment_id)}", params={"force": str(force).lower()})

    # -- services ----------------------------------------------------------------------------

    def services(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/services")["services"])

    def service(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/services/{seg(name)}"))

    # -- SQL introspection -------------------------------------------------------------------

    def query(self, sql: str, retry_for: float | None = None) -> list[dict[str, Any]]:
        """Rows of a ``/query`` statement (build ``sql`` with :func:`~django_restate.admin_api.sql.quote`).

        A query only reads, so it is retried for up to ``retry_for`` seconds (default
        :data:`QUERY_RETRY_FOR`) through the errors Restate answers while a partition has no
        leader yet or a cluster node is down (:data:`TRANSIENT_QUERY_ERRORS`). Any other error,
        or one that outlasts the window, is raised: never an empty result in its place. An
        admin API that does not answer at all is not waited for (the page says so at once).
        """
        deadline = time.monotonic() + (QUERY_RETRY_FOR if retry_for is None else retry_for)
        while True:
            try:
                result = self.request("POST", "/query", json={"query": sql}, headers={"accept": "application/json"})
                return list(result["rows"])
            except AdminAPIError as exc:
                message = exc.message.lower()
                transient = any(marker in message for marker in TRANSIENT_QUERY_ERRORS)
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(QUERY_RETRY_PAUSE)

    # -- state and invocations ---------------------------------------------------------------

    def replace_state(self, service: str, key: str, new_state: dict[str, list[int]], version: str | None) -> None:
        """Replace the whole state of one object. Restate drops it silently on a version mismatch."""
        body: dict[str, Any] = {"object_key": key, "new_state": new_state}
        if version is not None:
            body["version"] = version
        self.request("POST", f"/services/{seg(service)}/state", json=body)

    def invocation_action(self, invocation_id: str, action: str) -> None:
        if action not in INVOCATION_ACTIONS:
            raise ValueError(f"Unknown invocation action {action!r}; one of {', '.join(INVOCATION_ACTIONS)}.")
        self.request("PATCH", f"/invocations/{seg(invocation_id)}/{action}")

    def restart_as_new(self, invocation_id: str, from_entry: int | None = None) -> str:
        """Start a completed invocation again with the same input, as a new invocation; its id.

        ``from_entry`` keeps the journal prefix up to that entry (its effects are not run again).
        """
        params = {"from": str(from_entry)} if from_entry is not None else None
        answer = self.request("PATCH", f"/invocations/{seg(invocation_id)}/restart-as-new", params=params)
        return str(answer["new_invocation_id"])


def seg(value: str) -> str:
    """One URL path segment, whatever the user typed (``.`` and ``..`` included)."""
    return _http.path_segment(value)


_shared: AdminAPI | None = None


def get_admin_api() -> AdminAPI:
    """The :class:`AdminAPI` of ``RESTATE["ADMIN_URL"]``, one per settings: the admin pages share
    it (and its HTTP connections and :attr:`~AdminAPI.facts`) instead of opening one per request."""
    global _shared
    api = _shared
    if api is None or api.client is not _http.shared_client("ADMIN"):
        api = _shared = AdminAPI()
    return api


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    global _shared
    if setting == "RESTATE":
        _shared = None

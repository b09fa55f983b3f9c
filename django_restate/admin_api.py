"""One typed client for the Restate admin API.

Every part of django_restate that talks to the admin API (``restate_register``,
the admin pages, the test tools) goes through :class:`AdminAPI`, so errors look
the same everywhere: :class:`AdminAPIUnreachable` when nothing answers at the
URL, :class:`AdminAPIError` when the server answers with an error.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from . import _http
from ._http import tls_context
from .exceptions import AdminAPIError, AdminAPIUnreachable
from .sql import quote
from .state import entries_from_rows

__all__ = ["INVOCATION_ACTIONS", "AdminAPI", "AdminAPIError", "AdminAPIUnreachable", "seg", "tls_context"]

INVOCATION_ACTIONS = ("cancel", "kill", "pause", "resume", "purge")
# Right after a (re)start, partitions may have no leader yet; /query then fails briefly.
TRANSIENT_QUERY_ERRORS = ("node lookup for partition", "doesn't exist on this node", "not the leader", "unavailable")


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

    def query(self, sql: str, retry_for: float = 10.0) -> list[dict[str, Any]]:
        """Rows of a ``/query`` statement. Build ``sql`` with :func:`django_restate.sql.quote`."""
        deadline = time.monotonic() + retry_for
        while True:
            try:
                result = self.request("POST", "/query", json={"query": sql}, headers={"accept": "application/json"})
                return list(result["rows"])
            except AdminAPIError as exc:
                transient = any(marker in exc.message for marker in TRANSIENT_QUERY_ERRORS)
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # -- state and invocations ---------------------------------------------------------------

    def get_state(self, service: str, key: str, partition_key: int | None = None) -> dict[str, bytes]:
        """The whole state of one Virtual Object / Workflow instance, raw bytes per state key.

        Restate only narrows a ``state`` scan by ``partition_key``; without it every
        instance is read. Pass the instance's partition key when you know it (a ``state``
        row has it): a wrong one finds nothing rather than something else.
        """
        narrow = f"partition_key = {quote(partition_key)} AND " if partition_key is not None else ""
        rows = self.query(
            f"SELECT key, value FROM state WHERE {narrow}scope IS NULL "
            f"AND service_name = {quote(service)} AND service_key = {quote(key)}"
        )
        return entries_from_rows(rows)

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


def seg(value: str) -> str:
    """One URL path segment, whatever the user typed (``.`` and ``..`` included)."""
    return _http.path_segment(value)

"""``RealRestate``: the test backend that talks to a real restate-server, through the project's
own client (:mod:`django_restate.client`) and admin API client. The ``restate_backend``
fixture gives it to parity tests; it is the mock's reference."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from ..admin_api import AdminAPI, queries
from ..client import RestateClient, ServiceProxy
from ..handlers import RestateService
from ..registry import registry
from ..state import decode_value
from .backend import RestateTestBackend
from .waiting import eventually

T = TypeVar("T")


class RealRestate(RestateTestBackend):
    name = "real"

    def __init__(self, ingress_url: str, admin_url: str, timeout: float = 30.0) -> None:
        self.client = RestateClient(ingress_url, timeout=timeout)
        self.admin = AdminAPI(admin_url)

    def close(self) -> None:
        self.client.close()
        self.admin.close()

    def service(self, cls: type[RestateService]) -> ServiceProxy:
        return self.client.service(cls)

    def object(self, cls: type[RestateService], key: str) -> ServiceProxy:
        return self.client.object(cls, key)

    def workflow(self, cls: type[RestateService], workflow_id: str) -> ServiceProxy:
        return self.client.workflow(cls, workflow_id)

    def resolve_awakeable(self, awakeable_id: str, value: Any) -> None:
        self._awakeable(awakeable_id, "resolve", json.dumps(value).encode(), "application/json")

    def reject_awakeable(self, awakeable_id: str, message: str) -> None:
        self._awakeable(awakeable_id, "reject", message.encode(), "text/plain")

    def _awakeable(self, awakeable_id: str, action: str, body: bytes, content_type: str) -> None:
        path = f"/restate/awakeables/{quote(awakeable_id, safe='')}/{action}"
        self.client.http.request("POST", path, awakeable_id, content=body, headers={"content-type": content_type})

    def state(self, cls: type[RestateService], key: str) -> dict[str, Any]:
        raw = queries.state(self.admin, registry.get(cls).name, key)
        return {name: decode_value(value).readable() for name, value in raw.items()}

    def eventually(self, check: Callable[[], T], timeout: float = 10.0) -> T:
        return eventually(check, timeout, 0.02)

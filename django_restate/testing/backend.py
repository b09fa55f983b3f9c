"""What a test drives, the mock or a real restate-server, behind one API.

:class:`~django_restate.testing.harness.MockRestate` and
:class:`~django_restate.testing.real.RealRestate` both implement it, so a scenario
written once runs against both (``@pytest.mark.restate_parity``). Handlers are
addressed with :mod:`django_restate.client`'s own references (each backend is a transport
of the client), and fail the same way, with :class:`~django_restate.exceptions.HandlerError`::

    cart = restate_backend.object(Cart, "alice")
    assert cart.add_item(CartItem(sku="tea", quantity=2)) == 2
    handle = cart.add_item.send(CartItem(sku="tea", quantity=1))
    assert handle.attach() == 3
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, TypeVar

from ..client import ServiceProxy
from ..handlers import RestateService

T = TypeVar("T")


class RestateTestBackend(abc.ABC):
    """Handlers, awakeables and state: the same API on the mock and on a real server."""

    #: "mock" or "real".
    name: str

    @abc.abstractmethod
    def service(self, cls: type[RestateService]) -> ServiceProxy:
        """The handlers of a Service: ``backend.service(Greeter).greet("Ada")``."""

    @abc.abstractmethod
    def object(self, cls: type[RestateService], key: str) -> ServiceProxy:
        """The handlers of one Virtual Object: ``backend.object(Cart, "alice").add_item(item)``."""

    @abc.abstractmethod
    def workflow(self, cls: type[RestateService], workflow_id: str) -> ServiceProxy:
        """One workflow: ``.run.send(...)`` starts it, shared handlers are called like others."""

    @abc.abstractmethod
    def resolve_awakeable(self, awakeable_id: str, value: Any) -> None:
        """Resolve an awakeable with a JSON value, as ``POST /restate/awakeables/{id}/resolve`` does."""

    @abc.abstractmethod
    def reject_awakeable(self, awakeable_id: str, message: str) -> None:
        """Reject an awakeable: the handler's await raises TerminalError(message, 500)."""

    @abc.abstractmethod
    def state(self, cls: type[RestateService], key: str) -> dict[str, Any]:
        """The state of one object or workflow instance, decoded (JSON values as Python values)."""

    @abc.abstractmethod
    def eventually(self, check: Callable[[], T], timeout: float = 10.0) -> T:
        """``check()``'s result once it stops raising AssertionError or returning ``False``: the
        mock first runs what is queued; against a real server it polls, since sends run in the
        background there."""

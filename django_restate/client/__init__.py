"""Call and send to handlers from Django code, addressed through the handler classes.

::

    from django_restate.client import client

    total = client.object(Cart, "alice").add_item(CartItem(sku="tea", quantity=2))   # wait for the result
    total = client.call(Cart.add_item, item, key="alice")                            # the same, typed for mypy
    total = await client.object(Cart, "alice").add_item.acall(item)                  # the async twin
    handle = client.service(Greeter).greet.send("Ada", delay=timedelta(minutes=5))   # fire and forget
    client.object(Cart, "alice").add_item.send_on_commit(item, idempotency_key=key)  # after COMMIT

Handler names and their input and output types come from the registry (the
same :class:`~django_restate.reflect.HandlerSpec` the endpoint serves), so a
typo is an ``AttributeError`` and inputs and outputs are encoded with the same
:class:`~django_restate.serde.TypedJsonSerde` as on the server: a pydantic model
sent is a pydantic model received, and the result comes back typed.

Every blocking method has an async twin prefixed with ``a`` (``call`` /
``acall``, ``send`` / ``asend``, ``attach`` / ``aattach``), like Django's ORM
and django-tasks' ``enqueue`` / ``aenqueue``.

The references (:mod:`.refs`) are carried by a transport (:mod:`.transport`): HTTP to the
Restate ingress (:mod:`.http`) in production, the mock in tests (the ``restate_mock``
fixture routes this module's ``client`` to it; elsewhere ``with client.using(mock):``).
"""

from __future__ import annotations

from .codec import MISSING, Codec
from .core import RestateClient
from .http import HttpTransport
from .refs import Delay, HandlerRef, InvocationHandle, PendingSend, ServiceProxy, WorkflowRunRef
from .transport import Accepted, Address, Request, Transport

#: The project's client, configured by the ``RESTATE`` setting.
client = RestateClient()

__all__ = [
    "MISSING",
    "Accepted",
    "Address",
    "Codec",
    "Delay",
    "HandlerRef",
    "HttpTransport",
    "InvocationHandle",
    "PendingSend",
    "Request",
    "RestateClient",
    "ServiceProxy",
    "Transport",
    "WorkflowRunRef",
    "client",
]

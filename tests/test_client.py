"""The client against a real restate-server: handlers addressed by class, typed results,
call / send / attach, idempotency keys, workflows, and the errors a caller can handle."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import SynchronousOnlyOperation

from demo_project.shop.models import Product
from demo_project.shop.restate_services import Cart, CartItem, Checkout, Greeter
from django_restate.client import RestateClient, client
from django_restate.exceptions import (
    HandlerError,
    IngressError,
    IngressUnreachable,
    InvalidPayload,
    InvocationNotReady,
)
from django_restate.registry import NotRegistered
from django_restate.testing import eventually
from django_restate.testing.server import free_port
from tests.runtime_app.models import Note
from tests.runtime_app.restate_services import (
    ApprovalRequest,
    ApprovalResult,
    NoteIn,
    NoteOut,
    RuntimeApproval,
    RuntimeNotebook,
)

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_call_a_service_and_an_object_by_class(restate_live):
    Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)
    cart = client.object(Cart, unique("alice"))

    assert client.service(Greeter).greet("Ada") == "Hello, Ada! (3 letters)"
    assert cart.add_item(CartItem(sku="tea", quantity=2)) == 2
    assert cart.add_item({"sku": "tea", "quantity": 3}) == 5  # validated into a CartItem on the way out
    assert cart.items() == {"tea": 5}
    assert cart.total() == 17.5


def test_results_come_back_typed(restate_live):
    key = unique("typed")
    note = client.object(RuntimeNotebook, key).write(NoteIn(text="hello"))
    assert isinstance(note, NoteOut)
    assert note == NoteOut(id=note.id, key=key, text="hello", count=1)
    assert Note.objects.get(pk=note.id).via == "sync"


def test_async_twins(restate_live):
    key = unique("async")
    notebook = client.object(RuntimeNotebook, key)

    async def main():
        first = await notebook.awrite.acall(NoteIn(text="one"))
        handle = await notebook.write.asend(NoteIn(text="two"))
        second = await handle.aattach()
        return first, second, await notebook.count.acall()

    first, second, count = asyncio.run(main())
    assert (first.count, second.count, count) == (1, 2, 2)
    assert isinstance(second, NoteOut)


def test_sync_methods_refuse_to_block_an_event_loop(restate_live):
    async def main():
        client.service(Greeter).greet("Ada")

    with pytest.raises(SynchronousOnlyOperation, match=r"call\(\) of Greeter/greet .*acall"):
        asyncio.run(main())


def test_send_returns_a_handle_to_attach_to(restate_live):
    handle = client.service(Greeter).greet.send("Bob")
    assert handle.invocation_id.startswith("inv_")
    assert handle.status == "Accepted"
    assert handle.attach() == "Hello, Bob! (3 letters)"
    assert handle.output() == "Hello, Bob! (3 letters)"
    # From another request, knowing only the id: decoded as plain JSON.
    assert client.invocation(handle.invocation_id).attach() == "Hello, Bob! (3 letters)"


def test_send_with_delay_is_not_ready_until_it_ran(restate_live):
    handle = client.service(Greeter).greet.send("Late", delay=timedelta(seconds=2))
    with pytest.raises(InvocationNotReady) as raised:
        handle.output()
    assert raised.value.status_code == 470
    assert handle.attach(timeout=10) == "Hello, Late! (4 letters)"


def test_idempotency_key_runs_the_handler_once(restate_live):
    key, idem = unique("idem"), unique("request")
    notebook = client.object(RuntimeNotebook, key)

    first = notebook.write(NoteIn(text="once"), idempotency_key=idem)
    again = notebook.write(NoteIn(text="once"), idempotency_key=idem)
    assert again == first
    sent = notebook.write.send(NoteIn(text="once"), idempotency_key=idem)
    assert sent.status == "PreviouslyAccepted"
    assert notebook.write.invocation(idempotency_key=idem).output() == first
    assert Note.objects.filter(key=key).count() == 1


def test_headers_reach_the_handler(restate_live, settings):
    notebook = client.object(RuntimeNotebook, unique("headers"))
    assert notebook.header("x-trace-id", headers={"x-trace-id": "abc"}) == "abc"
    assert notebook.header("x-trace-id") is None
    settings.RESTATE = {**settings.RESTATE, "INGRESS_HEADERS": {"x-tenant": "acme"}}
    assert notebook.header("x-tenant") == "acme"


def test_workflow_submit_query_attach(restate_live):
    wf_id = unique("approval")
    approval = client.workflow(RuntimeApproval, wf_id)

    handle = approval.run.submit(ApprovalRequest(title="Holiday"))
    assert handle.status == "Accepted"
    assert approval.run.submit(ApprovalRequest(title="Holiday")).status == "PreviouslyAccepted"
    with pytest.raises(InvocationNotReady):
        approval.run.output()
    # Shared handlers run while the workflow waits.

    def waiting() -> None:
        assert approval.status() == "waiting"

    eventually(waiting, 20)
    approval.decide(True)
    result = approval.run.attach()
    assert result == ApprovalResult(title="Holiday", approved=True)
    assert approval.run.output() == result
    assert handle.attach() == result
    assert approval.status() == "decided"


def test_workflow_async_twins(restate_live):
    approval = client.workflow(RuntimeApproval, unique("approval"))

    async def main():
        await approval.run.asubmit(ApprovalRequest(title="Async"))
        await approval.decide.acall(False)
        return await approval.run.aattach(), await approval.run.aoutput()

    attached, output = asyncio.run(main())
    assert attached == output == ApprovalResult(title="Async", approved=False)


def test_workflow_runs_reject_idempotency_keys(restate_live):
    with pytest.raises(TypeError, match="runs once per workflow id"):
        client.workflow(Checkout, "x").run.send({"customer": "a", "items": {}}, idempotency_key="k")


def test_terminal_error_arrives_typed(restate_live):
    with pytest.raises(HandlerError) as raised:
        client.object(RuntimeNotebook, unique("refuse")).refuse(418)
    error = raised.value
    assert (error.status_code, error.message) == (418, "refused with 418")
    assert error.invocation_id.startswith("inv_")
    assert "RuntimeNotebook/" in error.target

    with pytest.raises(HandlerError) as raised:
        client.object(Cart, unique("bob")).add_item(CartItem(sku="no-such", quantity=1))
    assert raised.value.status_code == 404


def test_terminal_error_on_attach(restate_live):
    handle = client.object(RuntimeNotebook, unique("refuse")).refuse.send(409)
    with pytest.raises(HandlerError) as raised:
        handle.attach()
    assert raised.value.status_code == 409


def test_bad_input_is_refused_before_sending(restate_live):
    with pytest.raises(InvalidPayload, match=r"Cart.add_item is not a valid CartItem: quantity"):
        client.object(Cart, "x").add_item({"sku": "tea", "quantity": 0})
    with pytest.raises(TypeError, match="takes an input"):
        client.object(Cart, "x").add_item()
    with pytest.raises(TypeError, match="takes no input"):
        client.object(Cart, "x").items(1)


def test_ingress_refusals_are_ingress_errors(restate_live):
    with pytest.raises(IngressError) as raised:
        client.invocation("inv_bogus").output()
    assert raised.value.status_code == 400
    assert not isinstance(raised.value, HandlerError)


def test_ingress_down_names_the_url(restate_live):
    url = f"http://127.0.0.1:{free_port()}"
    message = rf"Cannot reach the Restate ingress at {url}"
    with RestateClient(url) as down, pytest.raises(IngressUnreachable, match=message) as raised:
        down.service(Greeter).greet("Ada")
    assert raised.value.url == url
    assert isinstance(raised.value, ConnectionError)

    async def main():
        async with RestateClient(url) as down:
            await down.service(Greeter).greet.acall("Ada")

    with pytest.raises(IngressUnreachable, match=url):
        asyncio.run(main())


def test_names_resolve_through_the_registry_and_wrong_ones_are_refused(restate_live):
    assert client.service("Greeter").greet("Ada") == "Hello, Ada! (3 letters)"
    with pytest.raises(NotRegistered, match=r"Greter is not a registered Restate service \(registered: .*Greeter"):
        client.service("Greter")
    with pytest.raises(TypeError, match=r"Cart is a VirtualObject: address it with client.object\(Cart, key\)"):
        client.service(Cart)
    with pytest.raises(AttributeError, match=r"Cart has no handler 'add_itme' \(its handlers: add_item, clear"):
        client.object(Cart, "alice").add_itme  # noqa: B018

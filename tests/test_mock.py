"""The mock's own behaviour: what the parity suite cannot show against a real server (virtual time,
queued sends, the ORM, deadlock reports, direct calls with a context)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
import restate
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connection
from django.test.utils import CaptureQueriesContext

from demo_project.shop.models import Order, Product
from demo_project.shop.restate_services import Cart, CartItem, Checkout, CheckoutRequest, Greeter
from django_restate.exceptions import HandlerError
from django_restate.registry import registry
from django_restate.testing.errors import Deadlock
from django_restate.testing.models import ObjectState, WorkflowPromise
from tests import mock_services
from tests.mock_services import Shipment, Sloppy, Wallet
from tests.runtime_app.restate_services import NoteIn, RuntimeNotebook


@pytest.fixture
def mock_services_registered(isolated_registry):
    registry.register_module(mock_services)


@pytest.fixture
def tea(db):
    return Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)


# -- the README's journey ---------------------------------------------------------------------


def test_cart_in_the_orm(restate_mock, tea):
    cart = restate_mock.object(Cart, "alice")
    assert cart.add_item(CartItem(sku="tea", quantity=2)) == 2
    assert cart.add_item(CartItem(sku="tea", quantity=3)) == 5
    assert cart.total() == 17.5
    row = ObjectState.objects.get(service="Cart", key="alice", name="items")
    assert row.decoded == {"tea": 5}
    assert restate_mock.state(Cart, "alice") == {"items": {"tea": 5}}


def test_state_from_the_previous_test_was_rolled_back(restate_mock):
    assert not ObjectState.objects.exists()
    assert restate_mock.object(Cart, "alice").items() == {}


def test_state_preloaded_with_the_orm(restate_mock, tea):
    ObjectState.objects.create(service="Cart", key="bob", name="items", value=b'{"tea": 4}')
    assert restate_mock.object(Cart, "bob").add_item(CartItem(sku="tea", quantity=1)) == 5
    restate_mock.set_state(Cart, "carol", {"items": {"tea": 1}})
    assert restate_mock.object(Cart, "carol").items() == {"tea": 1}


def test_state_is_read_from_the_orm_once_when_first_used(restate_mock, tea):
    table = ObjectState._meta.db_table
    ObjectState.objects.create(service="Cart", key="dan", name="items", value=b'{"tea": 2}')
    with CaptureQueriesContext(connection) as queries:
        assert restate_mock.object(Cart, "dan").add_item(CartItem(sku="tea", quantity=1)) == 3
    reads = [q["sql"] for q in queries.captured_queries if table in q["sql"] and q["sql"].startswith("SELECT")]
    assert len(reads) == 1  # after the "check product" step, when ctx.get first asks
    with CaptureQueriesContext(connection) as queries:
        restate_mock.object(RuntimeNotebook, "dan").write(NoteIn(text="no state"))
    assert not [q for q in queries.captured_queries if table in q["sql"]]  # never used its state: no query


def test_terminal_error_reaches_the_test_as_handler_error(restate_mock, db):
    with pytest.raises(HandlerError) as failure:
        restate_mock.object(Cart, "alice").add_item(CartItem(sku="nope", quantity=1))
    assert failure.value.status_code == 404
    assert failure.value.message == "Unknown product 'nope'"
    assert failure.value.target == "Cart/alice/add_item"


def test_checkout_workflow_with_virtual_time(restate_mock, tea):
    checkout = restate_mock.workflow(Checkout, "order-1")
    started = time.monotonic()
    handle = checkout.run.send(CheckoutRequest(customer="ada", items={"tea": 2}))
    restate_mock.drain()
    assert checkout.status() == "awaiting approval"
    assert Product.objects.get(sku="tea").stock == 8  # reserved by the run step, in this transaction
    checkout.approve(True)
    assert handle.attach() == "placed"
    assert Order.objects.get(order_id="order-1").customer == "ada"
    assert time.monotonic() - started < 5  # the 100 ms cooling-off period took no real time
    assert WorkflowPromise.objects.get(workflow="Checkout", key="order-1", name="approval").value == b"true"


def test_promise_resolved_from_the_test(restate_mock, tea):
    handle = restate_mock.workflow(Checkout, "order-2").run.send(CheckoutRequest(customer="bo", items={"tea": 1}))
    restate_mock.drain()
    restate_mock.resolve_promise(Checkout, "order-2", "approval", False)
    assert handle.attach() == "rejected"
    assert Product.objects.get(sku="tea").stock == 10  # released again
    with pytest.raises(restate.TerminalError, match="promise was already completed") as failure:
        restate_mock.resolve_promise(Checkout, "order-2", "approval", True)
    assert failure.value.status_code == 409


# -- time and queued sends --------------------------------------------------------------------


def test_sleep_moves_the_virtual_clock(restate_mock, mock_services_registered):
    before = restate_mock.now
    started = time.monotonic()
    assert restate_mock.object(Wallet, "w").slow_refill(30) >= 30 * 86400
    assert time.monotonic() - started < 2
    assert restate_mock.now - before >= 30 * 86400


def test_sends_wait_for_drain(restate_mock, mock_services_registered):
    handle = restate_mock.object(Wallet, "w").slow_refill.send(1)
    assert [inv.id for inv in restate_mock.pending_sends()] == [handle.invocation_id]
    assert restate_mock.object(Wallet, "w").balance() == 0
    restate_mock.drain(advance_clock=False)
    invocation = restate_mock.invocation(handle.invocation_id)
    assert invocation.status == "suspended"  # asleep, until time passes
    restate_mock.advance(timedelta(hours=23))
    assert not invocation.done
    restate_mock.advance(timedelta(hours=2))
    assert invocation.done
    assert restate_mock.object(Wallet, "w").balance() == 100


def test_delayed_send_waits_for_the_clock(restate_mock, mock_services_registered):
    handle = restate_mock.service(Greeter).greet.send("Ada", delay=timedelta(minutes=5))
    restate_mock.drain(advance_clock=False)
    assert not restate_mock.invocation(handle.invocation_id).done
    start = restate_mock.now
    restate_mock.drain()
    assert handle.attach() == "Hello, Ada! (3 letters)"
    assert restate_mock.now - start >= 300


def test_timeout_fires_when_nothing_else_can_happen(restate_mock, mock_services_registered):
    assert restate_mock.workflow(Shipment, "s1").run(48) == "lost"


def test_promise_beats_the_timeout(restate_mock, mock_services_registered):
    shipment = restate_mock.workflow(Shipment, "s2")
    handle = shipment.run.send(48)
    restate_mock.drain(advance_clock=False)
    shipment.deliver("dhl")
    assert handle.attach() == "delivered by dhl"


# -- deadlocks are reported, not waited for -----------------------------------------------------


def test_exclusive_call_to_its_own_key_is_a_deadlock(restate_mock, mock_services_registered):
    with pytest.raises(Deadlock) as failure:
        restate_mock.object(Wallet, "w").call_itself()
    message = str(failure.value)
    assert "Wallet/w/call_itself" in message
    assert "waits for its key 'w'" in message
    assert "deadlocks a real server too" in message


def test_waiting_for_an_awakeable_nobody_resolves(restate_mock, mock_services_registered):
    with pytest.raises(Deadlock, match=r"awaits awakeable sign_1\S+ \(step 0\): resolve it with"):
        restate_mock.object(Wallet, "w").wait_forever()


def test_a_suspended_invocation_holds_its_key(restate_mock, mock_services_registered):
    restate_mock.object(Wallet, "w").wait_forever.send()
    restate_mock.drain()
    with pytest.raises(Deadlock, match=r"waits for its key 'w', held by Wallet/w/wait_forever"):
        restate_mock.object(Wallet, "w").balance_exclusive()
    assert restate_mock.object(Wallet, "w").balance() == 0  # shared handlers do not wait


# -- failure injection --------------------------------------------------------------------------


def test_fail_a_run_step_to_reach_the_compensation(restate_mock, mock_services_registered):
    mock_services.CHARGES.clear()
    restate_mock.fail_run("ship", times=2, error=TimeoutError("carrier down"))
    assert restate_mock.object(Wallet, "w").checkout(30) == "refunded"
    assert mock_services.CHARGES == ["refund charge-30"]
    assert restate_mock.object(Wallet, "w").balance() == 0


def test_a_step_that_fails_less_often_than_allowed_succeeds(restate_mock, mock_services_registered):
    restate_mock.fail_run("ship", times=1, handler=Wallet.checkout)
    assert restate_mock.object(Wallet, "w").checkout(30) == "shipped"


def test_kill_at_a_journal_step(restate_mock, mock_services_registered):
    restate_mock.kill_at(Wallet.checkout, step=1)  # after the charge, before ctx.set
    with pytest.raises(HandlerError) as failure:
        restate_mock.object(Wallet, "w").checkout(30)
    assert (failure.value.status_code, failure.value.message) == (409, "killed")
    assert restate_mock.object(Wallet, "w").balance() == 0
    assert restate_mock.object(Wallet, "w").checkout(5) == "shipped"  # the next one is not killed


def test_cancel_and_kill_from_the_test(restate_mock, mock_services_registered):
    waiting = restate_mock.object(Wallet, "a").wait_forever.send()
    restate_mock.drain()
    restate_mock.cancel(waiting.invocation_id)
    with pytest.raises(HandlerError, match="cancelled"):
        waiting.attach()
    other = restate_mock.object(Wallet, "b").wait_forever.send()
    restate_mock.drain()
    restate_mock.kill(other.invocation_id)
    with pytest.raises(HandlerError, match="killed"):
        other.attach()


def test_retries_without_a_policy_are_reported(restate_mock, mock_services_registered):
    from django_restate.testing.errors import RetryForever

    with pytest.raises(RetryForever, match=r"Sloppy/flaky failed 5 times with ConnectionError\('network down'\)") as e:
        restate_mock.service(Sloppy).flaky()
    assert isinstance(e.value.__cause__, ConnectionError)


# -- calling handler code directly ----------------------------------------------------------------


def test_call_a_method_with_a_mock_context(restate_mock, tea):
    ctx = restate_mock.context(Cart.add_item, "dora")
    assert restate_mock.invoke(Cart.add_item, CartItem(sku="tea", quantity=2), context=ctx) == 2
    assert restate_mock.state(Cart, "dora") == {"items": {"tea": 2}}
    assert [e.kind for e in ctx.invocation.journal] == ["run", "get_state", "set_state"]


def test_run_handler_code_directly(restate_mock, tea):
    ctx = restate_mock.context(Cart, "erin")
    assert restate_mock.run(Cart().add_item(ctx, CartItem(sku="tea", quantity=1))) == 1


def test_async_twins(db, restate_mock):
    async def scenario():
        greeting = await restate_mock.service(Greeter).greet.acall("Ada")
        handle = await restate_mock.service(Greeter).greet.asend("Bo")
        return greeting, await handle.aattach()

    assert asyncio.run(scenario()) == ("Hello, Ada! (3 letters)", "Hello, Bo! (2 letters)")


def test_async_steps_never_look_like_a_deadlock(db, restate_mock):
    # In async tests a step runs in the mock's worker thread. Its end and its result used to reach
    # the loop as two callbacks: in between the loop could find nothing to do and raise Deadlock
    # ("... is running"), about one run of test_async_twins in ten.
    async def scenario():
        for n in range(1000):
            handle = await restate_mock.service(Greeter).greet.asend("Bo")
            assert await handle.aattach() == "Hello, Bo! (2 letters)", n

    asyncio.run(scenario())


def test_sync_methods_refuse_a_running_loop(restate_mock, db):
    async def call():
        restate_mock.service(Greeter).greet("Ada")

    # The client's own references: the same refusal as against the ingress.
    with pytest.raises(SynchronousOnlyOperation, match=r"call\(\) of Greeter/greet .*acall"):
        asyncio.run(call())

    async def drain():
        restate_mock.drain()

    with pytest.raises(RuntimeError, match="use the a-prefixed twin"):
        asyncio.run(drain())


def test_the_mock_cannot_be_called_from_a_handler_it_runs(restate_mock, mock_services_registered):
    from django_restate.testing.errors import NestedDrive

    mock_services.CURRENT_MOCK[:] = [restate_mock]
    with pytest.raises(NestedDrive, match="called from inside a handler it is running"):
        restate_mock.service(Sloppy).reenter()


def test_mock_state_in_the_admin(restate_mock, tea, admin_client):
    restate_mock.object(Cart, "alice").add_item(CartItem(sku="tea", quantity=2))
    page = admin_client.get("/admin/django_restate_testing/objectstate/")
    assert page.status_code == 200
    assert b"alice" in page.content and b"{&quot;tea&quot;: 2}" in page.content


def test_public_import():
    from django_restate.testing import MockRestate, RealRestate
    from django_restate.testing.harness import MockRestate as harness_mock

    assert MockRestate is harness_mock
    assert RealRestate.name == "real"


# -- the client's references on the mock: what the old copy lacked ------------------------------


def test_call_and_attach_with_a_timeout_in_virtual_time(restate_mock, mock_services_registered):
    from django_restate.exceptions import IngressTimeout

    wallet = restate_mock.object(Wallet, "w")
    start = restate_mock.now
    with pytest.raises(IngressTimeout, match="did not answer within 3600"):
        wallet.slow_refill(1, timeout=3600)  # sleeps a day: the caller gives up after an hour
    assert restate_mock.now - start == 3600
    assert wallet.balance() == 0  # the invocation goes on, as on a server
    handle = wallet.slow_refill.send(1)  # waits behind the first for the key
    with pytest.raises(IngressTimeout):
        handle.attach(timeout=60)
    assert handle.attach(timeout=2 * 86400) >= 86400  # the first ends after a day, this one a day later
    assert wallet.balance() == 100


def test_output_is_not_ready_until_the_send_ran(restate_mock, db):
    from django_restate.exceptions import InvocationNotReady

    handle = restate_mock.service(Greeter).greet.send("Ada")
    with pytest.raises(InvocationNotReady) as raised:
        handle.output()
    assert raised.value.status_code == 470
    restate_mock.drain()
    assert handle.output() == "Hello, Ada! (3 letters)"

    async def scenario():
        return await handle.aoutput()

    assert asyncio.run(scenario()) == "Hello, Ada! (3 letters)"


def test_invocation_by_idempotency_key(restate_mock, db):
    from django_restate.exceptions import IngressError

    greet = restate_mock.service(Greeter).greet
    sent = greet.send("Ada", idempotency_key="req-1")
    again = greet.send("Ada", idempotency_key="req-1")
    assert (again.invocation_id, again.status) == (sent.invocation_id, "PreviouslyAccepted")
    assert greet.invocation(idempotency_key="req-1").attach() == "Hello, Ada! (3 letters)"
    with pytest.raises(IngressError) as raised:
        greet.invocation(idempotency_key="never-sent").output()
    assert raised.value.status_code == 404


def test_the_mock_returns_the_clients_own_references(restate_mock, tea):
    from django_restate.client import HandlerRef, InvocationHandle, ServiceProxy, WorkflowRunRef, client

    cart = restate_mock.object(Cart, "alice")
    assert isinstance(cart, ServiceProxy) and type(cart.add_item) is HandlerRef
    assert isinstance(restate_mock.workflow(Checkout, "o").run, WorkflowRunRef)
    assert isinstance(cart.add_item.send(CartItem(sku="tea", quantity=1)), InvocationHandle)
    # The typed spelling, on the mock as on the client (the fixture routes the project's client here).
    assert restate_mock.call(Cart.add_item, CartItem(sku="tea", quantity=1), key="alice") == 1  # the send waits
    assert client.call(Cart.add_item, CartItem(sku="tea", quantity=1), key="alice") == 2
    restate_mock.drain()
    assert restate_mock.state(Cart, "alice") == {"items": {"tea": 3}}
    with pytest.raises(TypeError, match="Cart is a VirtualObject: pass its key"):
        restate_mock.call(Cart.add_item, CartItem(sku="tea", quantity=1))
    # A client of one's own over the mock, and the mock for a block.
    from django_restate.client import RestateClient

    assert RestateClient(transport=restate_mock).object(Cart, "alice").items() == {"tea": 3}
    with pytest.raises(TypeError, match="configure HTTP"):
        RestateClient("http://ingress", transport=restate_mock)
    other = RestateClient("http://ingress.invalid")
    with other.using(restate_mock):
        assert other.object(Cart, "alice").items() == {"tea": 3}
    assert other.transport is not restate_mock.transport


def test_send_on_commit_in_a_test_transaction(restate_mock, tea):
    from django.db import transaction

    add = restate_mock.object(Cart, "dave").add_item
    with transaction.atomic():
        kept = add.send_on_commit(CartItem(sku="tea", quantity=1), idempotency_key="k")
        try:
            with transaction.atomic():
                add.send_on_commit(CartItem(sku="tea", quantity=5), idempotency_key="k")
                raise RuntimeError("undo the inner block")
        except RuntimeError:
            pass
        second = add.send_on_commit(CartItem(sku="tea", quantity=2), idempotency_key="k")
        assert restate_mock.pending_sends() == []  # nothing before the block commits
    assert (kept.idempotency_key, second.idempotency_key) == ("k", "k#2")
    assert len(restate_mock.pending_sends()) == 2 and kept.handle is not None
    restate_mock.drain()
    assert restate_mock.state(Cart, "dave") == {"items": {"tea": 3}}


def test_a_drain_alone_sends_what_committed(restate_mock, tea):
    """drain() runs on the mock's loop; it must find the send_on_commit callbacks on the test's connection."""
    from django.db import transaction

    with transaction.atomic():
        restate_mock.object(Cart, "erin").add_item.send_on_commit(CartItem(sku="tea", quantity=1))
    restate_mock.drain()
    assert restate_mock.state(Cart, "erin") == {"items": {"tea": 1}}

"""Bad input and mistakes: the mock answers as the real server would, in words that say what to do."""

from __future__ import annotations

import pytest

from demo_project.shop.restate_services import Cart, CartItem, Checkout, Greeter
from django_restate.exceptions import InvalidPayload
from django_restate.registry import registry
from django_restate.testing.errors import RetryForever, WrongContext
from django_restate.testing.replay import NonDeterminismError
from tests import mock_services
from tests.mock_services import Sloppy, Wallet


@pytest.fixture(autouse=True)
def mock_services_registered(isolated_registry):
    registry.register_module(mock_services)


def test_shared_handler_cannot_write_state(restate_mock):
    with pytest.raises(RetryForever) as failure:
        restate_mock.object(Wallet, "w").write_from_shared()
    message = str(failure.value)
    assert "Wallet/w/write_from_shared is a shared handler and called ctx.set('charged')" in message
    assert "this handler type cannot write state" in message
    assert failure.value.code == "RT0017"


def test_value_json_cannot_encode(restate_mock):
    with pytest.raises(RetryForever, match=r"ctx.set\('when', ...\) got a value of type object that cannot be encoded"):
        restate_mock.object(Wallet, "w").store_unencodable()


def test_call_to_an_unregistered_service(restate_mock):
    with pytest.raises(RetryForever) as failure:
        restate_mock.service(Sloppy).call_unknown()
    assert "the service handler NoSuchService/go was not found" in str(failure.value)
    assert "Registered handlers:" in str(failure.value)
    assert failure.value.code == "RT0018"


def test_call_to_a_function_that_is_not_a_handler(restate_mock):
    with pytest.raises(RetryForever, match=r"not_a_handler is not a handler of a registered service"):
        restate_mock.service(Sloppy).call_plain_function()


def test_promises_belong_to_workflows(restate_mock):
    with pytest.raises(RetryForever, match="durable promises belong to workflows"):
        restate_mock.service(Sloppy).promise_in_service()


def test_wrong_context_kind(restate_mock):
    shared = restate_mock.context(Cart.items, "alice")
    with pytest.raises(WrongContext) as failure:
        restate_mock.invoke(Cart.add_item, CartItem(sku="tea", quantity=1), context=shared)
    assert "Cart.add_item takes restate.ObjectContext, but was given a context of a shared handler" in str(
        failure.value
    )
    assert "restate_mock.context(Cart.add_item, key=...)" in str(failure.value)


def test_context_of_another_service(restate_mock):
    with pytest.raises(WrongContext, match="was given a context of Wallet"):
        restate_mock.invoke(Cart.clear, context=restate_mock.context(Wallet, "w"))


def test_keyed_context_needs_a_key(restate_mock):
    with pytest.raises(ValueError, match=r"pass the key of the instance"):
        restate_mock.context(Cart)


def test_invalid_input_is_refused_like_the_client_does(restate_mock):
    with pytest.raises(InvalidPayload, match="not a valid CartItem"):
        restate_mock.object(Cart, "alice").add_item({"sku": "", "quantity": 0})


def test_missing_and_extra_input(restate_mock):
    with pytest.raises(TypeError, match="takes an input"):
        restate_mock.service(Greeter).greet()
    with pytest.raises(TypeError, match="takes no input"):
        restate_mock.object(Cart, "alice").items("extra")


def test_addressing_a_class_as_the_wrong_kind(restate_mock):
    with pytest.raises(
        TypeError, match=r"Checkout is a Workflow: address it with restate_mock.workflow\(Checkout, workflow_id\)"
    ):
        restate_mock.object(Checkout, "x")


def test_unknown_awakeable(restate_mock):
    with pytest.raises(LookupError, match="No awakeable 'sign_1nope' was created"):
        restate_mock.resolve_awakeable("sign_1nope", 1)


# -- the replay check -------------------------------------------------------------------------


@pytest.mark.restate_mock(replay_check=True)
def test_replay_check_sees_random_outside_run(restate_mock):
    with pytest.raises(NonDeterminismError) as failure:
        restate_mock.service(Sloppy).lucky_number()
    message = str(failure.value)
    assert "Sloppy/lucky_number is not deterministic: on replay it returned something else." in message
    assert "  #0 run 'store'" in message
    assert "- output " in message and "+ output " in message
    assert "ctx.random()" in message


@pytest.mark.restate_mock(replay_check=True)
def test_replay_check_sees_a_step_that_changed(restate_mock):
    with pytest.raises(NonDeterminismError) as failure:
        restate_mock.service(Sloppy).branchy()
    lines = str(failure.value).splitlines()
    assert lines[0] == "Sloppy/branchy is not deterministic: replaying its journal made different steps."
    assert any(line.startswith("- #0 run 'step-") and line.endswith("(recorded)") for line in lines)
    assert any(line.startswith("+ #0 run 'step-") and line.endswith("(replayed)") for line in lines)


@pytest.mark.restate_mock(replay_check=True)
def test_replay_check_passes_deterministic_handlers(restate_mock, db):
    from demo_project.shop.models import Product

    Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)
    assert restate_mock.object(Cart, "alice").add_item(CartItem(sku="tea", quantity=1)) == 1
    assert restate_mock.service(Sloppy).token() == "ok"  # uuid4() only feeds a run step's closure


def test_without_the_replay_check_nothing_is_reported(restate_mock):
    assert restate_mock.service(Sloppy).branchy() == "done"

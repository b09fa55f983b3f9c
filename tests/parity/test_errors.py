"""ctx.run results, terminal errors, retries with and without retry options."""

from __future__ import annotations

import pytest

from django_restate.exceptions import HandlerError
from tests.parity_app.restate_services import ATTEMPTS, ParitySteps

pytestmark = [pytest.mark.restate_parity, pytest.mark.restate_mock(replay_check=True)]


def test_run_result(restate_backend):
    assert restate_backend.service(ParitySteps).double(21) == 42


def test_terminal_error_in_run_fails_the_invocation(restate_backend):
    with pytest.raises(HandlerError) as failure:
        restate_backend.service(ParitySteps).terminal_in_run()
    assert (failure.value.status_code, failure.value.message) == (418, "no way")


def test_run_retries_then_becomes_terminal(restate_backend, key):
    assert restate_backend.service(ParitySteps).retries_exhausted(key) == "500:ValueError('boom 3'):3"


def test_run_retries_until_it_succeeds(restate_backend, key):
    assert restate_backend.service(ParitySteps).retries_succeed(key) == "ok after 3"


@pytest.mark.restate_mock(replay_check=False)  # it counts its attempts outside ctx.run, on purpose
def test_invocation_retried_with_its_journal(restate_backend, key):
    assert restate_backend.service(ParitySteps).flaky_invocation(key) == "step ran 1 time(s), handler 3 times"


def test_invocation_killed_after_max_attempts(restate_backend):
    with pytest.raises(HandlerError) as failure:
        restate_backend.service(ParitySteps).always_fails()
    assert (failure.value.status_code, failure.value.message) == (500, "ValueError('always')")


def test_value_json_cannot_encode_fails_the_run(restate_backend):
    code, _, message = restate_backend.service(ParitySteps).unencodable_run().partition(":")
    assert code == "500"
    assert "is not JSON serializable" in message


def test_run_writes_to_the_database(restate_backend, key):
    from demo_project.shop.models import Product

    assert restate_backend.service(ParitySteps).orm_step(f"sku-{key}") == 1
    assert Product.objects.filter(sku=f"sku-{key}").exists()


def test_async_orm_in_a_handler_sees_the_test_data(restate_backend, key):
    from demo_project.shop.models import Product

    Product.objects.create(sku=f"async-{key}", name="x", price="1.00", stock=1)
    assert restate_backend.service(ParitySteps).async_orm(f"async-{key}") == 1


def test_gather_runs(restate_backend):
    assert restate_backend.service(ParitySteps).gather(1) == [2, 3]


def test_idempotency_key_runs_the_handler_once(restate_backend, key):
    steps = restate_backend.service(ParitySteps)
    assert steps.counted(key, idempotency_key=f"idem-{key}") == 1
    assert steps.counted(key, idempotency_key=f"idem-{key}") == 1
    assert ATTEMPTS[key] == 1


def test_different_idempotency_keys_run_twice(restate_backend, key):
    steps = restate_backend.service(ParitySteps)
    assert steps.counted(key, idempotency_key=f"a-{key}") == 1
    assert steps.counted(key, idempotency_key=f"b-{key}") == 2


def test_idempotent_send_returns_the_first_invocation(restate_backend, key):
    ref = restate_backend.service(ParitySteps).counted
    first = ref.send(key, idempotency_key=f"send-{key}")
    again = ref.send(key, idempotency_key=f"send-{key}")
    assert again.invocation_id == first.invocation_id
    assert again.status == "PreviouslyAccepted"
    assert first.attach() == 1


def test_request_metadata(restate_backend, key):
    info = restate_backend.service(ParitySteps).request_info("hi", idempotency_key=key, headers={"x-parity": "yes"})
    # The SDK leaves request().idempotency_key unset with restate-server 1.7.
    assert info == {"id_prefix": "inv_", "header": "yes", "idempotency_key": None, "body": "hi"}


def test_random_and_uuid(restate_backend):
    assert restate_backend.service(ParitySteps).deterministic() == {"uuid_version": 4, "random_in_unit": True}

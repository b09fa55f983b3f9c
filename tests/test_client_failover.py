"""A request whose connection fails, as when a Restate node dies under it or a load balancer has
not yet taken the dead node out: the client sends it again when that cannot run a handler twice
(nothing was sent, a read, or an idempotency key), and otherwise says the outcome is unknown.
Checked at the HTTP boundary with httpx's MockTransport; the cluster suite does it for real."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from demo_project.shop.restate_services import Cart, CartItem
from django_restate.client import RestateClient, http
from django_restate.exceptions import (
    IngressError,
    IngressOutcomeUnknown,
    IngressTimeout,
    IngressUnreachable,
    RestateError,
)


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "FAILOVER_RETRY_DELAYS", (0.0, 0.0, 0.0))


class Flaky:
    """Fails the first ``failures`` requests with ``error``, then answers 200."""

    def __init__(self, error: type[httpx.TransportError], failures: int) -> None:
        self.error, self.failures = error, failures
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            raise self.error("the node went away", request=request)
        return httpx.Response(200, json=2)


def client(flaky: Flaky) -> RestateClient:
    mock = httpx.MockTransport(flaky)
    return RestateClient("http://ingress.test:8080", transport=mock, async_transport=mock)


ITEM = CartItem(sku="tea", quantity=2)


def test_a_refused_connection_is_sent_again_even_without_a_key():
    flaky = Flaky(httpx.ConnectError, failures=2)
    assert client(flaky).object(Cart, "ada").add_item(ITEM) == 2
    assert len(flaky.requests) == 3  # nothing reached a handler before the third


def test_a_broken_connection_with_an_idempotency_key_is_sent_again_with_the_same_key():
    flaky = Flaky(httpx.ReadError, failures=2)
    assert client(flaky).object(Cart, "ada").add_item(ITEM, idempotency_key="add-1") == 2
    assert [r.headers["idempotency-key"] for r in flaky.requests] == ["add-1"] * 3


def test_a_broken_connection_without_a_key_is_an_unknown_outcome_and_not_resent():
    flaky = Flaky(httpx.RemoteProtocolError, failures=1)
    with pytest.raises(IngressOutcomeUnknown, match="whether Restate started the invocation is unknown") as caught:
        client(flaky).object(Cart, "ada").add_item(ITEM)
    assert len(flaky.requests) == 1
    assert caught.value.target == "Cart/ada/add_item"
    assert isinstance(caught.value, IngressUnreachable) and isinstance(caught.value, RestateError)


def test_a_send_with_a_key_and_the_async_twin_retry_too():
    flaky = Flaky(httpx.ReadError, failures=1)
    ref = client(flaky).object(Cart, "ada").add_item
    assert asyncio.run(ref.acall(ITEM, idempotency_key="add-2")) == 2
    assert len(flaky.requests) == 2


def test_reads_are_retried_attach_and_output():
    flaky = Flaky(httpx.ReadError, failures=1)
    handle = client(flaky).invocation("inv_1")
    assert handle.attach() == 2
    assert [r.method for r in flaky.requests] == ["GET", "GET"]


def test_it_gives_up_after_the_retries_and_says_unreachable():
    flaky = Flaky(httpx.ConnectError, failures=99)
    with pytest.raises(IngressUnreachable, match="Cannot reach the Restate ingress"):
        client(flaky).object(Cart, "ada").add_item(ITEM, idempotency_key="add-3")
    assert len(flaky.requests) == len(http.FAILOVER_RETRY_DELAYS) + 1


def test_a_timeout_is_not_retried():
    flaky = Flaky(httpx.ReadTimeout, failures=1)
    with pytest.raises(IngressTimeout):
        client(flaky).object(Cart, "ada").add_item(ITEM, idempotency_key="add-4")
    assert len(flaky.requests) == 1


def test_failover_false_fails_at_once_for_callers_that_retry_themselves():
    """The outbox's sends: a committing view or a relay round must not wait through the schedule."""
    flaky = Flaky(httpx.ConnectError, failures=1)
    with pytest.raises(IngressUnreachable):
        client(flaky).http.request("POST", "/Cart/ada/add_item", "Cart/ada/add_item", content=b"{}", failover=False)
    assert len(flaky.requests) == 1


# -- a load balancer's answer for a node that failed under it ---------------------------------------


class Gateway:
    """Answers the first ``failures`` requests as haproxy does (an HTML page with ``status``), then 200."""

    def __init__(self, status: int, failures: int, body: str = "<html><body><h1>Bad Gateway</h1></body></html>"):
        self.status, self.failures, self.body = status, failures, body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            return httpx.Response(self.status, text=self.body, headers={"content-type": "text/html"})
        return httpx.Response(200, json=2)


def through(gateway: Gateway) -> RestateClient:
    mock = httpx.MockTransport(gateway)
    return RestateClient("http://balancer.test:8080", transport=mock, async_transport=mock)


def test_a_balancers_502_with_an_idempotency_key_is_sent_again():
    """The node died mid-request (the cluster suite's kill -9 saw exactly this page from haproxy)."""
    gateway = Gateway(502, failures=2)
    assert through(gateway).object(Cart, "ada").add_item(ITEM, idempotency_key="add-5") == 2
    assert [r.headers["idempotency-key"] for r in gateway.requests] == ["add-5"] * 3
    async_gateway = Gateway(502, failures=1)
    assert asyncio.run(through(async_gateway).object(Cart, "ada").add_item.acall(ITEM, idempotency_key="a")) == 2
    assert len(async_gateway.requests) == 2


def test_a_balancers_502_without_a_key_stands():
    gateway = Gateway(502, failures=1)
    with pytest.raises(IngressError) as caught:
        through(gateway).object(Cart, "ada").add_item(ITEM)
    assert caught.value.status_code == 502 and len(gateway.requests) == 1


def test_a_balancers_503_no_node_up_is_sent_again_even_without_a_key():
    gateway = Gateway(503, failures=2, body="<html><body><h1>503 Service Unavailable</h1></body></html>")
    assert through(gateway).object(Cart, "ada").add_item(ITEM) == 2
    assert len(gateway.requests) == 3


def test_restates_own_503_and_a_504_stand():
    def restate_503(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"code": 503, "message": "the partition has no leader"})

    with pytest.raises(IngressError, match="no leader"):
        RestateClient("http://ingress.test", transport=httpx.MockTransport(restate_503)).object(Cart, "a").add_item(
            ITEM, idempotency_key="k"
        )
    gateway = Gateway(504, failures=1, body="<html>504 Gateway Time-out</html>")
    with pytest.raises(IngressError) as caught:
        through(gateway).object(Cart, "ada").add_item(ITEM, idempotency_key="add-6")
    assert caught.value.status_code == 504 and len(gateway.requests) == 1


def test_a_balancer_that_keeps_answering_502_is_given_up_on():
    gateway = Gateway(502, failures=99)
    with pytest.raises(IngressError) as caught:
        through(gateway).object(Cart, "ada").add_item(ITEM, idempotency_key="add-7")
    assert caught.value.status_code == 502
    assert len(gateway.requests) == len(http.FAILOVER_RETRY_DELAYS) + 1

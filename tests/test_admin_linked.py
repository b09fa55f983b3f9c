"""A model row next to the Restate object it belongs to: the demo's Order and its Checkout workflow."""

from __future__ import annotations

import uuid

import httpx
import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from demo_project.shop.models import Order, Product
from django_restate.admin_api import queries
from tests.admin_app import fixtures
from tests.admin_app.fixtures import until_truthy

notebooks = fixtures.notebooks
pytestmark = pytest.mark.e2e


@pytest.fixture
def order(notebooks):
    """An order whose Checkout workflow is waiting for approval."""
    Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    sent = httpx.post(
        f"{notebooks.live.ingress_url}/Checkout/{order_id}/run/send", json={"customer": "ada", "items": {"tea": 1}}
    )
    sent.raise_for_status()
    until_truthy(lambda: notebooks.api.query(f"SELECT 1 FROM sys_promise WHERE service_key = '{order_id}'") or None)
    until_truthy(lambda: b"awaiting" in queries.state(notebooks.api, "Checkout", order_id).get("status", b"") or None)
    return Order.objects.create(order_id=order_id, customer="ada", total="3.50")


def change_page(client, order):
    return client.get(f"/admin/shop/order/{order.pk}/change/")


def test_the_orders_page_shows_its_workflows_state_promises_invocations_and_links(notebooks, order):
    page = change_page(notebooks.client, order)
    assert page.status_code == 200
    shown = page.context["restate_object"]
    assert (shown["service"], shown["key"], shown["kind"]) == ("Checkout", order.order_id, "Workflow")
    assert {e["key"]: e["value"].readable() for e in shown["state"]} == {"status": "awaiting approval"}
    [promise] = shown["promises"]
    assert (promise["name"], promise["status"]) == ("approval", "pending")
    assert [row["target_handler_name"] for row in shown["recent"]] == ["run"]
    invoke = {i["handler"]: i["url"] for i in shown["invoke"]}
    assert invoke["approve"].endswith(f"/Checkout/approve/invoke/?key={order.order_id}")
    html = page.content.decode()
    assert 'id="restate-object"' in html and "awaiting approval" in html and "/ui/" in html
    # The invoke link opens the form with the key filled in; approving completes the workflow.
    form = notebooks.client.get(invoke["approve"])
    assert form.context["form"]["key"].value() == order.order_id
    notebooks.client.post(invoke["approve"], {"mode": "call", "key": order.order_id, "in_value": "on"})
    until_truthy(
        lambda: (
            {p["status"] for p in change_page(notebooks.client, order).context["restate_object"]["promises"]}
            == {"resolved"}
        )
    )


def test_a_user_sees_only_what_their_restate_permissions_allow(notebooks, order, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename__in=["view_order", "change_order"]))
    client = Client()
    client.force_login(clerk)
    shown = change_page(client, order).context["restate_object"]
    assert shown["state"] == [] and shown["recent"] == [] and shown["invoke"] == []
    assert not shown["can_state"] and shown["instance_url"] is None

"""Invoking a handler from the admin: a form from its input schema, call and send, against a real
restate-server (the demo shop's handlers are part of the test project)."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client

from demo_project.shop.models import Product
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks
pytestmark = pytest.mark.e2e
SERVICES = "/admin/django_restate/registeredservice/"


def invoke_url(service: str, handler: str) -> str:
    return f"{SERVICES}{service}/{handler}/invoke/"


def test_the_form_has_a_typed_field_per_property_with_the_schemas_constraints(notebooks):
    page = notebooks.client.get(invoke_url("Cart", "add_item") + "?key=alice")
    assert page.status_code == 200
    form = page.context["form"]
    assert form.input_editor == "form" and form["key"].value() == "alice"
    html = page.content.decode()
    assert 'name="in_sku"' in html and 'maxlength="32"' in html and 'minlength="1"' in html
    assert 'name="in_quantity"' in html and 'type="number"' in html and 'min="1"' in html and 'max="1000"' in html
    # A scalar input is one field; an input the form cannot express is the JSON editor.
    assert "in_value" in notebooks.client.get(invoke_url("Greeter", "greet")).context["form"].fields
    assert notebooks.client.get(invoke_url(SERVICE, "write")).context["form"].input_editor == "json"


def test_a_value_outside_the_constraints_is_a_form_error_and_nothing_is_invoked(notebooks):
    before = LogEntry.objects.count()
    page = notebooks.client.post(
        invoke_url("Cart", "add_item"), {"mode": "call", "key": "alice", "in_sku": "tea", "in_quantity": "0"}
    )
    assert page.status_code == 200 and page.context["outcome"] is None
    assert "in_quantity" in page.context["form"].errors
    assert LogEntry.objects.count() == before


def test_call_shows_the_result_links_the_invocation_and_is_logged(notebooks, admin_user):
    Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)
    key = notebooks.key("cart")
    page = notebooks.client.post(
        invoke_url("Cart", "add_item"), {"mode": "call", "key": key, "in_sku": "tea", "in_quantity": "2"}
    )
    outcome = page.context["outcome"]
    assert outcome is not None, page.context["form"].errors
    assert outcome.error is None and outcome.result.text.strip() == "2"
    assert f"/admin/django_restate/invocation/{outcome.invocation_id}/" in page.content.decode()
    assert notebooks.invocation(outcome.invocation_id)["target"] == f"Cart/{key}/add_item"
    entry = LogEntry.objects.get(object_id=outcome.invocation_id)
    assert entry.user == admin_user and f"Cart/{key}/add_item" in entry.change_message


def test_a_handlers_failure_is_shown_with_its_invocation(notebooks):
    page = notebooks.client.post(
        invoke_url("Cart", "add_item"), {"mode": "call", "key": "bob", "in_sku": "nope", "in_quantity": "1"}
    )
    outcome = page.context["outcome"]
    assert outcome.invocation_id and "Unknown product 'nope'" in outcome.error


def test_send_with_a_delay_schedules_it_and_an_idempotency_key_finds_the_first(notebooks):
    key = notebooks.key()
    form = {"mode": "send", "key": key, "delay": "3600", "idempotency_key": key, "editor": "json"}
    first = notebooks.client.post(invoke_url(SERVICE, "write") + "?editor=json", {**form, "body": '{"a": 1}'})
    outcome = first.context["outcome"]
    assert outcome.error is None and outcome.result is None and outcome.status == "Accepted"
    assert notebooks.wait_for_status(outcome.invocation_id, "scheduled")
    again = notebooks.client.post(invoke_url(SERVICE, "write") + "?editor=json", {**form, "body": '{"a": 1}'})
    assert again.context["outcome"].invocation_id == outcome.invocation_id
    assert again.context["outcome"].status == "PreviouslyAccepted"


def test_the_json_editor_sends_exactly_the_value_typed(notebooks):
    key = notebooks.key()
    page = notebooks.client.post(
        invoke_url(SERVICE, "write"), {"mode": "call", "key": key, "editor": "json", "body": '{"n": 1.5, "s": "x"}'}
    )
    assert page.context["outcome"].result.text.strip() == "2"
    assert notebooks.state(key) == {"n": b"1.5", "s": b'"x"'}
    refused = notebooks.client.post(
        invoke_url(SERVICE, "write"), {"mode": "call", "key": key, "editor": "json", "body": "1e400"}
    )
    assert "body" in refused.context["form"].errors and refused.context["outcome"] is None


def test_a_delay_is_for_sends_only_and_unknown_handlers_are_404(notebooks):
    page = notebooks.client.post(invoke_url("Greeter", "greet"), {"mode": "call", "delay": "5", "in_value": "Ada"})
    assert "delay" in page.context["form"].errors
    assert notebooks.client.get(invoke_url("Greeter", "nope")).status_code == 404
    assert notebooks.client.get(invoke_url("Nope", "greet")).status_code == 404


def test_invoking_needs_its_own_permission(notebooks, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_registeredservice"))
    client = Client()
    client.force_login(viewer)
    assert client.get(invoke_url("Greeter", "greet")).status_code == 403
    assert "invoke</a>" not in client.get(SERVICES + "Greeter/").content.decode()
    assert "invoke</a>" in notebooks.client.get(SERVICES + "Greeter/").content.decode()

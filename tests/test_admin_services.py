"""Services and deployments pages against a real restate-server, and drift from the code."""

from __future__ import annotations

import pytest
import restate
from django.contrib.admin.models import ADDITION, LogEntry
from django.test import override_settings

from django_restate import VirtualObject
from django_restate.registry import registry
from django_restate.testing.server import free_port
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE
from tests.admin_app.restate_services import AdminNotebook

notebooks = fixtures.notebooks

pytestmark = pytest.mark.e2e
SERVICES = "/admin/django_restate/registeredservice/"
DEPLOYMENTS = "/admin/django_restate/deployment/"


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_services_list_shows_every_service_and_that_the_code_matches(notebooks):
    response = notebooks.client.get(SERVICES)
    assert response.status_code == 200
    services = {s["name"]: s for s in response.context["services"]}
    assert {"Cart", "Checkout", "Greeter", SERVICE} <= set(services)
    notebook = services[SERVICE]
    assert (notebook["ty"], notebook["handler_count"], notebook["in_code"], notebook["drift"]) == (
        "VirtualObject",
        5,
        True,
        [],
    )
    assert notebook["deployment_id"].startswith("dp_") and notebook["revision"] >= 1
    assert "matches the code" in response.content.decode()


def test_service_page_shows_handlers_with_kind_schemas_and_documentation(notebooks):
    response = notebooks.client.get(SERVICES + "Cart/")
    assert response.status_code == 200
    handlers = {h["name"]: h for h in response.context["handlers"]}
    assert handlers["add_item"]["ty"] == "Exclusive" and handlers["total"]["ty"] == "Shared"
    assert '"sku"' in handlers["add_item"]["input_schema"] and handlers["total"]["input_schema"] == ""
    html = response.content.decode()
    assert "Shopping cart, one per customer." in html and "CartItem" in html
    notebook = notebooks.client.get(SERVICES + SERVICE + "/")
    write_bytes = next(h for h in notebook.context["handlers"] if h["name"] == "write_bytes")
    assert "Store raw bytes" in write_bytes.get("documentation", "")


def test_unknown_service_is_not_found(notebooks):
    assert notebooks.client.get(SERVICES + "NoSuchService/").status_code == 404


class Ghost(VirtualObject):
    """Only in the code."""

    async def haunt(self, ctx: restate.ObjectContext) -> None: ...


class ShrunkNotebook(VirtualObject):
    class Meta:
        name = SERVICE

    async def read(self, ctx: restate.ObjectContext, key: str) -> str: ...  # exclusive now, shared on the server

    async def scribble(self, ctx: restate.ObjectContext) -> None: ...


def test_drift_between_the_code_and_restate_is_shown(notebooks, isolated_registry):
    registry.unregister(AdminNotebook)
    registry.register(ShrunkNotebook, Ghost)

    response = notebooks.client.get(SERVICES)
    notebook = next(s for s in response.context["services"] if s["name"] == SERVICE)
    assert notebook["drift"] == [
        f"{SERVICE}.read: Restate has Shared, the code Exclusive",
        f"{SERVICE}.scribble: in the code, not registered with Restate",
        f"{SERVICE}.nap: registered with Restate, no longer in the code",
        f"{SERVICE}.stumble: registered with Restate, no longer in the code",
        f"{SERVICE}.write: registered with Restate, no longer in the code",
        f"{SERVICE}.write_bytes: registered with Restate, no longer in the code",
    ]
    assert [m["name"] for m in response.context["missing"]] == ["Ghost"]
    html = response.content.decode()
    assert "differs from the code" in html and "In the code, not registered with Restate" in html

    detail = notebooks.client.get(SERVICES + SERVICE + "/")
    assert len(detail.context["drift"]) == 6
    ghost = notebooks.client.get(SERVICES + "Ghost/")
    assert ghost.status_code == 200 and "Restate does not know it" in ghost.content.decode()


def test_deployments_list_marks_this_projects_deployment(notebooks):
    response = notebooks.client.get(DEPLOYMENTS)
    assert response.status_code == 200
    [ours] = [d for d in response.context["deployments"] if d["ours"]]
    assert ours["endpoint"].rstrip("/") == notebooks.live.deployment_url
    assert ours["protocol_type"] == "RequestResponse"
    assert SERVICE in {s["name"] for s in ours["services"]}
    assert "this project" in response.content.decode()


def test_register_this_projects_deployment_from_the_admin(notebooks, admin_user):
    preview = notebooks.client.get(DEPLOYMENTS + "register/")
    assert preview.status_code == 200 and preview.context["problem"] is None
    assert SERVICE in {s["name"] for s in preview.context["result"].services}

    response = notebooks.client.post(DEPLOYMENTS + "register/", follow=True)
    [message] = messages_of(response)
    assert message.startswith(f"Registered {notebooks.live.deployment_url} as dp_") and SERVICE in message
    entry = LogEntry.objects.get(action_flag=ADDITION, object_repr=notebooks.live.deployment_url)
    assert entry.user == admin_user


def test_register_an_unreachable_deployment_says_what_to_fix(notebooks):
    settings = {**notebooks.live.settings(), "DEPLOYMENT_URL": f"http://127.0.0.1:{free_port()}/restate"}
    with override_settings(RESTATE=settings):
        preview = notebooks.client.get(DEPLOYMENTS + "register/")
        assert "Cannot reach the deployment" in preview.context["problem"]
        response = notebooks.client.post(DEPLOYMENTS + "register/", follow=True)
    [message] = messages_of(response)
    assert message.startswith("The deployment was not registered.") and "DEPLOYMENT_URL" in message


@pytest.mark.parametrize(
    "url", [SERVICES, "/admin/django_restate/state/", "/admin/django_restate/invocation/", DEPLOYMENTS]
)
def test_an_admin_api_that_answers_errors_is_a_banner(notebooks, url):
    # Restate's ingress is no admin API: it answers 4xx to /services, /deployments and /query.
    with override_settings(RESTATE={**notebooks.live.settings(), "ADMIN_URL": notebooks.live.ingress_url}):
        response = notebooks.client.get(url)
    assert response.status_code == 200
    assert "answered 4" in response.context["restate_error"]

"""A deployment that serves a chosen subset of the services (RESTATE["SERVICES"], or per mounted
endpoint): the endpoint, restate_register, --check and drift all follow it. End to end against
a real restate-server."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_restate import NotRegistered, registry
from django_restate.admin_api import AdminAPI
from django_restate.asgi import RestateRouter, get_asgi_application, restate_endpoint
from django_restate.conf import restate_settings
from django_restate.deployments import drift, served_services
from django_restate.endpoint import build_services
from django_restate.testing.live import LiveASGIServer
from django_restate.testing.server import RestateServer


def test_served_defaults_to_every_registered_service():
    assert [s.name for s in served_services()] == [s.name for s in registry]


def test_the_setting_chooses_a_subset_and_names_must_exist():
    with override_settings(RESTATE={"SERVICES": ["Greeter", "Cart", "Greeter"]}):
        assert [s.name for s in served_services()] == ["Cart", "Greeter"]
        assert sorted(s.name for s in build_services()) == ["Cart", "Greeter"]
        assert [s.name for s in served_services(["Checkout"])] == ["Checkout"]  # an explicit list wins
    with override_settings(RESTATE={"SERVICES": ["Nope"]}), pytest.raises(NotRegistered, match="Nope"):
        served_services()
    with override_settings(RESTATE={"SERVICES": "Cart"}), pytest.raises(TypeError, match=r"write \['Cart'\]"):
        served_services()


def test_drift_compares_only_what_this_deployment_serves():
    server = [
        {"name": "Greeter", "ty": "Service", "handlers": [{"name": "greet", "ty": None}], "deployment_id": "dp_me"},
        {"name": "Checkout", "ty": "Workflow", "handlers": [], "deployment_id": "dp_me"},
        {"name": "Cart", "ty": "VirtualObject", "handlers": [], "deployment_id": "dp_other"},
    ]
    with override_settings(RESTATE={"SERVICES": ["Greeter"]}):
        lines = drift(server, deployment_ids=["dp_me"])
    # Cart belongs to the other deployment; Checkout is ours but no longer served here.
    assert lines == ["Checkout: registered from this deployment, which no longer serves it (RESTATE['SERVICES'])"]


@pytest.fixture(scope="module")
def restate() -> Iterator[RestateServer]:
    with RestateServer() as server:
        yield server


def register_output(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("restate_register", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.e2e
def test_a_deployment_serving_the_setting_s_subset(restate, django_db_setup, django_db_blocker):
    subset = {**restate_settings.user_settings, "SERVICES": ["Greeter", "Cart"]}
    with override_settings(RESTATE=subset), LiveASGIServer(get_asgi_application(), "uvicorn") as live:
        url = live.url + "/restate"
        out, err = register_output(url, "--admin-url", restate.admin_url)
        assert "  Cart (VirtualObject)" in out and "  Greeter (Service)" in out
        assert "Checkout" not in out and err == ""
        out, _ = register_output(url, "--admin-url", restate.admin_url, "--check")
        assert "match the code" in out
        with AdminAPI(restate.admin_url) as admin:
            assert {s["name"] for s in admin.services()} == {"Cart", "Greeter"}
    # The same deployment checked against the whole registry: every other service is missing.
    with pytest.raises(CommandError, match=r"differs from the code in \d+ place"):
        register_output(url, "--admin-url", restate.admin_url, "--check")


@pytest.mark.e2e
def test_a_mounted_endpoint_with_its_own_services(restate, django_db_setup, django_db_blocker):
    app = RestateRouter(ASGIHandler(), restate_endpoint(services=["Checkout"]))  # type: ignore[arg-type]
    with LiveASGIServer(app, "uvicorn") as live:
        url = live.url + "/restate"
        out, err = register_output(url, "--admin-url", restate.admin_url, "--services", "Checkout")
        assert "  Checkout (Workflow)" in out and "Greeter" not in out and err == ""
        out, _ = register_output(url, "--admin-url", restate.admin_url, "--check", "--services", "Checkout")
        assert "match the code" in out
        # Registering it while expecting another subset says so.
        _, err = register_output(url, "--admin-url", restate.admin_url, "--services", "Checkout,Greeter")
        assert "The endpoint serves Checkout, but this project expects Checkout, Greeter there" in err
    with pytest.raises(CommandError, match="Nope is not a registered Restate service"):
        register_output(url, "--admin-url", restate.admin_url, "--services", "Nope")

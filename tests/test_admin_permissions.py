"""Who may see and do what on the Restate admin pages; CSRF on every form; a banner, never a
500, when the Restate admin API is down. These need no Restate server: it is unreachable here."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings

from django_restate.testing.server import free_port

INVOCATION = "inv_1hSYOOxaFdzi6ZjimNgzb18eBM65vDiMmf"
STATE = "/admin/django_restate/state/"
INSTANCE = STATE + "instance/?service=Cart&key=alice"
INVOCATIONS = "/admin/django_restate/invocation/"
SERVICES = "/admin/django_restate/registeredservice/"
DEPLOYMENTS = "/admin/django_restate/deployment/"
INVOKE = SERVICES + "Cart/add_item/invoke/"
OVERVIEW = "/admin/django_restate/overview/"
STATE_EDIT = {"operation": "edit", "version": "v", "key": "items", "value": "1", "encoding": "json"}

# (method, url, data, the permission that opens it, or the permissions that open it together)
CONFIRM = ("manage_invocation", "view_invocation")  # a confirmation page shows the invocation
PAGES = [
    ("get", OVERVIEW, None, "view_overview"),
    ("get", SERVICES, None, "view_registeredservice"),
    ("get", SERVICES + "Cart/", None, "view_registeredservice"),
    ("get", INVOKE, None, "invoke_handler"),
    ("post", INVOKE, {"mode": "call", "key": "alice"}, "invoke_handler"),
    ("get", STATE, None, "view_state"),
    ("get", INSTANCE, None, "view_state"),
    ("post", INSTANCE, STATE_EDIT, "change_state"),
    ("get", INVOCATIONS, None, "view_invocation"),
    ("get", f"{INVOCATIONS}{INVOCATION}/", None, "view_invocation"),
    *[
        ("get", f"{INVOCATIONS}{INVOCATION}/{a}/", None, CONFIRM)
        for a in ("cancel", "kill", "pause", "resume", "purge")
    ],
    *[
        ("post", f"{INVOCATIONS}{INVOCATION}/{a}/", {}, "manage_invocation")
        for a in ("cancel", "kill", "pause", "resume", "purge")
    ],
    ("post", INVOCATIONS + "actions/", {"action": "cancel", "_selected_action": [INVOCATION]}, CONFIRM),
    ("get", DEPLOYMENTS, None, "view_deployment"),
    ("get", DEPLOYMENTS + "register/", None, "register_deployment"),
    ("post", DEPLOYMENTS + "register/", {}, "register_deployment"),
]
IDS = [
    f"{m} {u.split('/admin/django_restate/')[1]} ({'+'.join([p] if isinstance(p, str) else p)})" for m, u, _, p in PAGES
]


@pytest.fixture(autouse=True)
def restate_down():
    """Point the admin API at a closed port: every page must still answer."""
    with override_settings(RESTATE={"ADMIN_URL": f"http://127.0.0.1:{free_port()}", "TIMEOUT": 2}):
        yield


def staff(django_user_model, *codenames, is_staff=True):
    user = django_user_model.objects.create_user(
        f"u{django_user_model.objects.count()}", password="pw", is_staff=is_staff
    )
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="django_restate", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


def request(client, method, url, data):
    return getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)


@pytest.mark.parametrize(("method", "url", "data", "permission"), PAGES, ids=IDS)
def test_each_page_and_action_needs_its_permission(db, django_user_model, method, url, data, permission):
    needed = (permission,) if isinstance(permission, str) else permission
    assert request(staff(django_user_model), method, url, data).status_code == 403
    for missing in needed if len(needed) > 1 else ():
        short = [p for p in needed if p != missing]
        assert request(staff(django_user_model, *short), method, url, data).status_code == 403, missing
    allowed = request(staff(django_user_model, *needed), method, url, data)
    assert allowed.status_code in (200, 302, 404), allowed.status_code
    if allowed.status_code == 302:
        assert "/login/" not in allowed.url


@pytest.mark.parametrize(("method", "url", "data", "permission"), PAGES, ids=IDS)
def test_anonymous_and_non_staff_users_are_sent_to_login(db, django_user_model, method, url, data, permission):
    needed = (permission,) if isinstance(permission, str) else permission
    for client in (Client(), staff(django_user_model, *needed, is_staff=False)):
        response = request(client, method, url, data)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_read_only_support_staff_can_look_without_touching(db, django_user_model):
    support = staff(django_user_model, "view_state", "view_invocation", "view_registeredservice", "view_deployment")
    for url in (STATE, INSTANCE, INVOCATIONS, SERVICES, DEPLOYMENTS):
        assert support.get(url).status_code == 200
    assert support.post(INSTANCE, STATE_EDIT).status_code == 403
    assert support.post(f"{INVOCATIONS}{INVOCATION}/kill/").status_code == 403
    assert support.post(DEPLOYMENTS + "register/").status_code == 403
    index = support.get("/admin/").content.decode()
    assert "/admin/django_restate/state/" in index and "/admin/django_restate/invocation/" in index


def test_the_index_lists_only_the_pages_a_user_may_see(db, django_user_model):
    index = staff(django_user_model, "view_state").get("/admin/").content.decode()
    assert STATE in index and INVOCATIONS not in index and DEPLOYMENTS not in index
    assert "/admin/django_restate/state/add/" not in index


def test_permissions_are_installed_with_readable_names(db):
    names = dict(Permission.objects.filter(content_type__app_label="django_restate").values_list("codename", "name"))
    assert names == {
        "view_registeredservice": "Can view service",
        "invoke_handler": "Can invoke handlers from the admin",
        "view_overview": "Can view overview",
        "view_state": "Can view state",
        "change_state": "Can change state",
        "view_invocation": "Can view invocation",
        "manage_invocation": "Can cancel, kill, pause, resume and purge invocations",
        "view_deployment": "Can view deployment",
        "register_deployment": "Can register this project's deployment",
        "view_outboxmessage": "Can view outbox message",
        "send_outboxmessage": "Can send outbox messages now",
        "discard_outboxmessage": "Can discard outbox messages",
    }


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (INSTANCE, STATE_EDIT),
        (f"{INVOCATIONS}{INVOCATION}/cancel/", {"confirmed": "yes"}),
        (INVOCATIONS + "actions/", {"action": "kill", "_selected_action": [INVOCATION], "confirmed": "yes"}),
        (DEPLOYMENTS + "register/", {}),
        (INVOKE, {"mode": "call", "key": "alice", "in_sku": "tea", "in_quantity": "1"}),
    ],
)
def test_every_form_needs_a_csrf_token(db, admin_user, url, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(url, data).status_code == 403


def test_forms_carry_a_csrf_token(admin_client):
    html = admin_client.get(INVOCATIONS).content.decode()
    assert 'name="csrfmiddlewaretoken"' in html


@pytest.mark.parametrize(
    "url",
    [SERVICES, SERVICES + "Cart/", INVOKE, STATE, INSTANCE, INVOCATIONS, f"{INVOCATIONS}{INVOCATION}/", DEPLOYMENTS],
)
def test_unreachable_admin_api_is_a_banner_not_a_500(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "Cannot reach the Restate admin API" in response.context["restate_error"]
    assert 'class="errornote restate-banner"' in response.content.decode()


def test_writes_while_the_admin_api_is_down_say_so(admin_client):
    response = admin_client.post(INSTANCE, STATE_EDIT, follow=True)
    assert response.status_code == 200
    assert any("The change was not saved" in str(m) for m in response.context["messages"])
    response = admin_client.post(f"{INVOCATIONS}{INVOCATION}/kill/", follow=True)
    assert any("Cannot reach the Restate admin API" in str(m) for m in response.context["messages"])
    response = admin_client.post(DEPLOYMENTS + "register/", follow=True)
    assert any("was not registered" in str(m) for m in response.context["messages"])

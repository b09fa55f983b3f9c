"""The invocation pages against a real restate-server: filters, the journal, and the actions."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.admin.models import LogEntry

from django_restate.admin_api import queries
from django_restate.testing import eventually
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks

pytestmark = pytest.mark.e2e
LIST = "/admin/django_restate/invocation/"


def detail(invocation_id):
    return f"{LIST}{invocation_id}/"


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_list_filters_by_service_handler_key_status_and_time(notebooks):
    key = notebooks.key()
    notebooks.write(key, a=1)
    notebooks.call(key, "read", "a")
    napping = notebooks.send(key + "-nap", "nap", 60)
    notebooks.wait_for_status(napping, "suspended")
    client = notebooks.client

    def targets(**params):
        response = client.get(LIST, params)
        assert response.status_code == 200 and not response.context["form"].errors
        return sorted(r["target"] for r in response.context["rows"])

    assert targets(service=SERVICE, key=key) == [f"{SERVICE}/{key}/read", f"{SERVICE}/{key}/write"]
    assert targets(service=SERVICE, key=key, handler="read") == [f"{SERVICE}/{key}/read"]
    assert targets(key=key, status="succeeded") == [f"{SERVICE}/{key}/read", f"{SERVICE}/{key}/write"]
    assert targets(key=key, status="failed") == []
    assert targets(key=key + "-nap", status="suspended") == [f"{SERVICE}/{key}-nap/nap"]
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    assert targets(key=key, created_after=soon.strftime("%Y-%m-%d %H:%M")) == []
    assert len(targets(key=key, created_before=soon.strftime("%Y-%m-%d %H:%M"))) == 2
    notebooks.api.invocation_action(napping, "kill")


def test_list_is_paginated_by_the_query_newest_first(notebooks, monkeypatch):
    monkeypatch.setattr(queries, "PER_PAGE", 2)
    key = notebooks.key()
    for i in range(5):
        notebooks.write(key, n=i)
    response = notebooks.client.get(LIST, {"key": key})
    first = response.context["rows"]
    assert len(first) == 2 and response.context["next_url"] and not response.context["previous_url"]
    assert first[0]["created_at"] >= first[1]["created_at"]
    seen = [r["id"] for r in first]
    while response.context["next_url"]:
        response = notebooks.client.get(LIST + response.context["next_url"])
        seen += [r["id"] for r in response.context["rows"]]
    assert len(seen) == len(set(seen)) == 5


def test_invocation_page_shows_target_status_and_a_readable_journal(notebooks):
    key = notebooks.key()
    notebooks.write(key, items={"apple": 2})
    row = notebooks.api.query(f"SELECT id FROM sys_invocation WHERE target_service_key = '{key}'")[0]
    response = notebooks.client.get(detail(row["id"]))
    assert response.status_code == 200
    invocation = response.context["invocation"]
    assert (invocation["target"], invocation["status"]) == (f"{SERVICE}/{key}/write", "completed")
    journal = response.context["journal"]
    types = [e.entry_type for e in journal]
    assert types[0] == "Command: Input" and "Command: SetState" in types and "Command: Output" in types
    set_state = next(e for e in journal if e.entry_type == "Command: SetState")
    # Payload bytes are decoded, not shown as arrays of numbers.
    assert '"apple": 2' in set_state.details and "[123," not in set_state.details
    # On the page each command is one step of the timeline.
    assert 'class="restate-step restate-step-setstate' in response.content.decode()


def test_retry_count_and_last_failure_are_shown_and_resume_retries_now(notebooks):
    key = notebooks.key()
    message = f"boom-{key}"
    invocation_id = notebooks.send(key, "stumble", message)
    notebooks.wait_for_status(invocation_id, "backing-off")  # for a minute before the next attempt
    response = notebooks.client.get(detail(invocation_id))
    invocation = response.context["invocation"]
    assert invocation["status"] == "backing-off" and invocation["retry_count"] == 1
    assert message in invocation["last_failure"] and message in response.content.decode()
    assert invocation["next_retry_at"] is not None

    # Resume retries at once instead of waiting out the back-off.
    assert notebooks.client.post(detail(invocation_id) + "resume/").status_code == 302

    def retried() -> None:
        assert notebooks.invocation(invocation_id).get("retry_count") == 2

    eventually(retried, 20)

    # Killing it ends it.
    assert notebooks.client.post(detail(invocation_id) + "kill/").status_code == 302
    assert notebooks.wait_for_status(invocation_id, "completed")["completion_result"] == "failure"


def test_cancelling_a_sleeping_invocation_works(notebooks, admin_user):
    key = notebooks.key()
    invocation_id = notebooks.send(key, "nap", 600)
    notebooks.wait_for_status(invocation_id, "suspended")
    page = notebooks.client.get(detail(invocation_id))
    assert any(e.entry_type == "Command: Sleep" and e.sleep_wakeup_at for e in page.context["journal"])

    confirm = notebooks.client.get(detail(invocation_id) + "cancel/")
    assert confirm.status_code == 200 and "Are you sure you want to" in confirm.content.decode()
    assert notebooks.invocation(invocation_id)["status"] == "suspended"  # GET changed nothing

    response = notebooks.client.post(detail(invocation_id) + "cancel/", {"confirmed": "yes"})
    assert response.status_code == 302 and response.url == detail(invocation_id)
    done = notebooks.wait_for_status(invocation_id, "completed")
    assert done["completion_result"] == "failure" and "cancel" in done["completion_failure"]
    assert any(m.startswith("Cancelled") for m in messages_of(notebooks.client.get(response.url)))
    assert LogEntry.objects.get(object_id=invocation_id).user == admin_user


def test_refused_actions_say_why(notebooks):
    key = notebooks.key()
    invocation_id = notebooks.send(key, "nap", 600)
    notebooks.wait_for_status(invocation_id, "suspended")
    response = notebooks.client.post(detail(invocation_id) + "purge/", follow=True)
    [message] = messages_of(response)
    assert "Restate refused to purge" in message and "409" in message and invocation_id in message
    assert notebooks.invocation(invocation_id)["status"] == "suspended"
    notebooks.api.invocation_action(invocation_id, "kill")


def test_purge_removes_a_completed_invocation(notebooks):
    key = notebooks.key()
    notebooks.write(key, a=1)
    [row] = notebooks.api.query(f"SELECT id FROM sys_invocation WHERE target_service_key = '{key}'")
    response = notebooks.client.post(detail(row["id"]) + "purge/")
    assert response.status_code == 302 and response.url == LIST

    def purged() -> None:
        assert not notebooks.invocation(row["id"]), "the invocation is still there"

    eventually(purged, 30)
    assert notebooks.client.get(detail(row["id"])).status_code == 404


def test_bulk_action_confirms_then_acts_on_each(notebooks):
    key = notebooks.key()
    ids = [notebooks.send(f"{key}-{i}", "nap", 600) for i in range(2)]
    for invocation_id in ids:
        notebooks.wait_for_status(invocation_id, "suspended")
    back = f"{LIST}?status=suspended"
    data = {"action": "cancel", "_selected_action": ids, "next": back}

    confirm = notebooks.client.post(LIST + "actions/", data)
    assert confirm.status_code == 200 and [r["id"] for r in confirm.context["rows"]] == ids
    assert all(notebooks.invocation(i)["status"] == "suspended" for i in ids)

    # The results page reports each invocation.
    response = notebooks.client.post(LIST + "actions/", {**data, "confirmed": "yes"})
    assert response.status_code == 200 and response.context["back"] == back
    assert [(r["invocation_id"], r["ok"]) for r in response.context["results"]] == [(i, True) for i in ids]
    for invocation_id in ids:
        assert notebooks.wait_for_status(invocation_id, "completed")["completion_result"] == "failure"

    # A second cancel is refused by Restate for each, and says so.
    again = notebooks.client.post(LIST + "actions/", {**data, "confirmed": "yes"})
    assert [(r["invocation_id"], r["ok"]) for r in again.context["results"]] == [(i, False) for i in ids]
    assert all("not in a state that allows this" in r["message"] for r in again.context["results"])


def test_bulk_action_without_selection_or_action_does_nothing(notebooks):
    response = notebooks.client.post(LIST + "actions/", {"action": "kill"}, follow=True)
    assert "Select at least one invocation" in messages_of(response)[0]
    response = notebooks.client.post(
        LIST + "actions/", {"action": "explode", "_selected_action": ["inv_x"]}, follow=True
    )
    assert "Choose an action" in messages_of(response)[0]


def test_bulk_action_next_must_stay_on_site(notebooks):
    response = notebooks.client.post(LIST + "actions/", {"action": "kill", "next": "https://evil.example/"})
    assert response.status_code == 302 and response.url == LIST


@pytest.mark.parametrize("invocation_id", ["inv_1hSYOOxaFdzi6ZjimNgzb18eBM65vDiMmX", "inv_bogus", "nope"])
def test_unknown_or_malformed_invocation_is_not_found(notebooks, invocation_id):
    response = notebooks.client.get(detail(invocation_id))
    assert response.status_code == 404 and not response.context["restate_error"]
    assert "has no invocation" in response.content.decode()

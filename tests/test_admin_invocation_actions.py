"""Restart as new, retry now, actions shown only when Restate allows them, bulk actions on every
invocation matching the filters, and the list's duration / last failure, on a real restate-server."""

from __future__ import annotations

import pytest

from django_restate.admin_views.invocations import allowed_actions
from tests.admin_app import fixtures
from tests.admin_app.fixtures import until_truthy

notebooks = fixtures.notebooks
pytestmark = pytest.mark.e2e
LIST = "/admin/django_restate/invocation/"


def detail(invocation_id: str) -> str:
    return f"{LIST}{invocation_id}/"


def completed_write(notebooks, key: str, **entries) -> str:
    invocation_id = notebooks.send(key, "write", entries)
    notebooks.wait_for_status(invocation_id, "completed")
    return invocation_id


def test_restart_as_new_from_the_start_makes_a_new_invocation_and_opens_it(notebooks, admin_user):
    key = notebooks.key()
    first = completed_write(notebooks, key, a=1)
    page = notebooks.client.get(detail(first))
    assert [a["name"] for a in page.context["invocation"]["allowed_actions"]] == ["restart", "purge"]
    confirm = notebooks.client.get(detail(first) + "restart/")
    assert confirm.status_code == 200 and 'name="from"' in confirm.content.decode()
    response = notebooks.client.post(detail(first) + "restart/", {"confirmed": "yes", "from": ""})
    assert response.status_code == 302 and response.url != detail(first)
    new_id = response.url.rstrip("/").rsplit("/", 1)[1]
    assert new_id.startswith("inv_") and new_id != first
    restarted = notebooks.wait_for_status(new_id, "completed")
    assert restarted["target"] == f"AdminNotebook/{key}/write"


def test_restart_as_new_from_a_journal_entry_keeps_that_prefix(notebooks):
    key = notebooks.key()
    first = completed_write(notebooks, key, a=1, b=2)
    commands = notebooks.client.get(detail(first) + "restart/").context["journal"]
    assert commands, "the confirmation offers the journal's commands to restart from"
    entry = commands[0].index
    response = notebooks.client.post(detail(first) + "restart/", {"confirmed": "yes", "from": str(entry)})
    new_id = response.url.rstrip("/").rsplit("/", 1)[1]
    assert new_id.startswith("inv_") and new_id != first
    notebooks.wait_for_status(new_id, "completed")


def test_a_backing_off_invocation_offers_retry_now_and_no_restart(notebooks):
    key = notebooks.key()
    invocation_id = notebooks.send(key, "stumble", "boom")
    row = notebooks.wait_for_status(invocation_id, "backing-off")
    labels = {a["name"]: a["label"] for a in allowed_actions(row)}
    assert labels["resume"] == "Retry now" and "restart" not in labels and "purge" not in labels
    page = notebooks.client.get(LIST, {"key": key})
    [listed] = page.context["rows"]
    assert "boom" in listed["last_failure"] and listed["duration"]
    assert listed["status_class"] == "restate-status-backing-off"
    html = page.content.decode()
    assert "boom" in html and "restate-status-backing-off" in html
    notebooks.client.post(detail(invocation_id) + "kill/", {"confirmed": "yes"})


def test_actions_follow_the_status_restate_allows():
    def names(**row):
        return [a["name"] for a in allowed_actions(row)]

    assert names(status="completed", target_service_ty="workflow") == ["purge"]
    assert names(status="suspended") == ["resume", "pause", "cancel", "kill"]
    assert names(status="running") == ["pause", "cancel", "kill"]
    assert names(status="paused") == ["resume", "cancel", "kill"]
    assert [a["danger"] for a in allowed_actions({"status": "paused"})] == [False, True, True]


def test_bulk_action_on_everything_matching_the_filter_states_the_count_and_reports_each(notebooks):
    key = notebooks.key()
    # More than one page of invocations, all matching one filter.
    ids = [notebooks.send(f"{key}-other", "write", {"i": 0})]
    ids += [notebooks.send(key, "write", {"i": i}) for i in range(3)]
    for invocation_id in ids:
        notebooks.wait_for_status(invocation_id, "completed")
    query = f"key={key}&handler=write"
    until_truthy(lambda: len(notebooks.client.get(f"{LIST}?{query}").context["rows"]) == 3)
    # One object's list is one partition: it shows its count.
    assert notebooks.client.get(f"{LIST}?{query}").context["count"] == 3
    form = {"action": "purge", "across": "1", "filter": query, "next": f"{LIST}?{query}"}

    confirm = notebooks.client.post(LIST + "actions/", form)
    assert confirm.status_code == 200 and confirm.context["total"] == 3
    assert "all <strong>3</strong> invocations matching" in confirm.content.decode()
    assert "delete-confirmation" in confirm.content.decode()  # the admin's danger style

    done = notebooks.client.post(LIST + "actions/", {**form, "confirmed": "yes"})
    results = done.context["results"]
    assert sorted(r["invocation_id"] for r in results) == sorted(ids[1:])
    assert all(r["ok"] for r in results)
    until_truthy(lambda: not notebooks.client.get(f"{LIST}?{query}").context["rows"])
    # The other object's invocation did not match the filter and was left alone.
    assert notebooks.invocation(ids[0])["status"] == "completed"


def test_the_date_filters_use_the_admins_pickers_and_still_take_one_value(notebooks):
    page = notebooks.client.get(LIST, {"created_after_0": "2000-01-01", "created_after_1": "10:00"})
    assert page.context["form"].cleaned_data["created_after"].year == 2000
    html = page.content.decode()
    assert "vDateField" in html and "vTimeField" in html and "DateTimeShortcuts.js" in html
    one = notebooks.client.get(LIST, {"created_after": "2000-01-01 10:00"})
    assert one.context["form"].cleaned_data["created_after"] == page.context["form"].cleaned_data["created_after"]

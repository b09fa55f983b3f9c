"""The state pages against a real restate-server: state made by real invocations is listed,
decoded, edited, and a concurrent change is reported instead of overwritten."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry

from django_restate.admin_api import AdminAPI, queries
from django_restate.state import state_version
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks

pytestmark = pytest.mark.e2e
LIST = "/admin/django_restate/state/"


def page(notebooks, key):
    response = notebooks.client.get(notebooks.instance_url(key))
    assert response.status_code == 200
    return response


def post(notebooks, instance, version, **data):
    return notebooks.client.post(notebooks.instance_url(instance), {"version": version, **data})


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_state_created_by_invocations_is_listed_and_searchable(notebooks):
    prefix = notebooks.key("list")
    keys = [f"{prefix}-{i}" for i in range(3)]
    for key in keys:
        notebooks.write(key, items={"apple": 2}, owner=key)
    notebooks.write(notebooks.key("other"), items={})

    response = notebooks.client.get(LIST, {"service": SERVICE, "key_prefix": prefix})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(r["service_name"], r["service_key"], r["entries"]) for r in rows] == [(SERVICE, k, 2) for k in keys]
    # Each row links to its instance, with the partition key that makes reading it cheap.
    assert f"key={keys[0]}" in rows[0]["url"] and "pk=" in rows[0]["url"]
    assert rows[0]["url"] in response.content.decode().replace("&amp;", "&")


def test_list_is_paginated_by_the_query(notebooks, monkeypatch):
    monkeypatch.setattr(queries, "PER_PAGE", 2)
    prefix = notebooks.key("page")
    keys = [f"{prefix}-{i}" for i in range(5)]
    for key in keys:
        notebooks.write(key, n=1)
    seen = []
    url, pages = f"?service={SERVICE}&key_prefix={prefix}", 0
    while url:
        response = notebooks.client.get(LIST + url)
        seen += [r["service_key"] for r in response.context["rows"]]
        url, pages = response.context["next_url"], pages + 1
    assert seen == keys and pages == 3
    assert response.context["previous_url"] is not None


def test_instance_page_decodes_every_value_safely(notebooks):
    key = notebooks.key()
    notebooks.write(key, items={"apple": 2, "pear": 1}, name="é<script>")
    notebooks.write_bytes(key, raw=b"\xff\x00\x01binary", text=b"plain words", empty=b"")

    response = page(notebooks, key)
    entries = {e.key: e.decoded for e in response.context["entries"]}
    assert entries["items"].kind == "json" and entries["items"].text == '{\n  "apple": 2,\n  "pear": 1\n}'
    assert entries["raw"].kind == "binary" and entries["raw"].text == b"\xff\x00\x01binary".hex()
    assert entries["text"].kind == "text" and entries["empty"].kind == "empty"
    html = response.content.decode()
    assert "&quot;é&lt;script&gt;&quot;" in html and "<script>" not in html.split("</head>")[1].split("<script")[0]
    assert response.context["version"] == state_version(notebooks.state(key))


def test_partition_key_hint_is_only_a_hint(notebooks):
    key = notebooks.key()
    notebooks.write(key, items=[1])
    for pk in ["12", "not-a-number", "-1", str(2**64)]:
        response = notebooks.client.get(notebooks.instance_url(key) + f"&pk={pk}")
        assert [e.key for e in response.context["entries"]] == ["items"], pk


def test_an_edit_lands_and_is_logged(notebooks, admin_user):
    key = notebooks.key()
    notebooks.write(key, items={"apple": 2}, note="keep me")
    version = page(notebooks, key).context["version"]

    response = post(notebooks, key, version, operation="edit", key="items", value='{"apple": 5}', encoding="json")
    assert response.status_code == 302
    assert notebooks.state(key) == {"items": b'{"apple": 5}', "note": b'"keep me"'}
    assert notebooks.call(key, "read", "items") == {"apple": 5}  # the handler sees the edit

    after = notebooks.client.get(response.url)
    assert any("Saved" in m for m in messages_of(after))
    entry = LogEntry.objects.get(object_id=f"{SERVICE}/{key}")
    assert (entry.user, entry.action_flag) == (admin_user, CHANGE)
    assert "items" in entry.change_message and key in entry.object_repr


def test_add_delete_and_clear(notebooks):
    key = notebooks.key()
    notebooks.write(key, a=1, b=2)
    version = page(notebooks, key).context["version"]
    assert post(notebooks, key, version, operation="add", key="c", value="[3]", encoding="json").status_code == 302
    assert (
        post(
            notebooks,
            key,
            version := page(notebooks, key).context["version"],
            operation="add",
            key="raw",
            value="AP8=",
            encoding="base64",
        ).status_code
        == 302
    )
    assert notebooks.state(key) == {"a": b"1", "b": b"2", "c": b"[3]", "raw": b"\x00\xff"}

    version = page(notebooks, key).context["version"]
    assert post(notebooks, key, version, operation="delete", key="a").status_code == 302
    assert set(notebooks.state(key)) == {"b", "c", "raw"}

    version = page(notebooks, key).context["version"]
    assert post(notebooks, key, version, operation="clear").status_code == 302
    assert notebooks.state(key) == {}
    assert notebooks.call(key, "read", "b") is None
    assert LogEntry.objects.filter(object_id=f"{SERVICE}/{key}", action_flag=DELETION).count() == 1


def test_adding_an_existing_key_is_a_form_error(notebooks):
    key = notebooks.key()
    notebooks.write(key, a=1)
    version = page(notebooks, key).context["version"]
    response = post(notebooks, key, version, operation="add", key="a", value="2", encoding="json")
    assert response.status_code == 200
    assert "already exists" in str(response.context["form"].errors["key"])
    assert notebooks.state(key) == {"a": b"1"}


@pytest.mark.parametrize("value", ["{", "{'single': 'quotes'}", "NaN", ""])
def test_invalid_json_is_a_form_error_and_nothing_is_written(notebooks, value):
    key = notebooks.key()
    notebooks.write(key, items={"apple": 2})
    before = notebooks.state(key)
    version = page(notebooks, key).context["version"]
    response = post(notebooks, key, version, operation="edit", key="items", value=value, encoding="json")
    assert response.status_code == 200
    assert "not valid JSON" in str(response.context["form"].errors["value"])
    assert notebooks.state(key) == before
    assert not LogEntry.objects.filter(object_id=f"{SERVICE}/{key}").exists()


def test_a_change_made_after_the_page_loaded_is_a_conflict_and_loses_nobodys_data(notebooks):
    key = notebooks.key()
    notebooks.write(key, items={"apple": 2})
    version = page(notebooks, key).context["version"]
    notebooks.write(key, items={"apple": 3}, coupon="SAVE10")  # someone else, meanwhile

    response = post(notebooks, key, version, operation="edit", key="items", value='{"apple": 99}', encoding="json")
    assert response.status_code == 409
    assert any("was not applied: someone else changed this state" in m for m in messages_of(response))
    # The other change stays; ours is not written but kept in the form, over the current state.
    assert notebooks.state(key) == {"items": b'{"apple": 3}', "coupon": b'"SAVE10"'}
    assert response.context["form"]["value"].value() == '{"apple": 99}'
    assert response.context["version"] == state_version(notebooks.state(key))
    html = response.content.decode()
    assert "SAVE10" in html and "{&quot;apple&quot;: 99}" in html
    assert not LogEntry.objects.filter(object_id=f"{SERVICE}/{key}").exists()

    # Submitting again over the state now shown applies it.
    again = post(notebooks, key, response.context["version"], operation="edit", key="items", value='{"apple": 99}')
    assert again.status_code == 302
    assert notebooks.state(key) == {"items": b'{"apple": 99}', "coupon": b'"SAVE10"'}


def test_a_change_racing_the_write_is_dropped_by_restate_and_reported(notebooks, monkeypatch):
    """The version matched when checked, but the state changed before Restate applied the write:
    Restate answers 202 and drops it; the page must notice by reading the state back."""
    key = notebooks.key()
    notebooks.write(key, items={"apple": 2})
    version = page(notebooks, key).context["version"]
    replace_state = AdminAPI.replace_state

    def someone_else_first(self, *args, **kwargs):
        notebooks.write(key, items={"apple": 7})
        return replace_state(self, *args, **kwargs)

    monkeypatch.setattr(AdminAPI, "replace_state", someone_else_first)
    response = post(notebooks, key, version, operation="edit", key="items", value='{"apple": 99}', encoding="json")
    assert response.status_code == 409
    assert any("was not applied" in m for m in messages_of(response))
    assert notebooks.state(key) == {"items": b'{"apple": 7}'}


def test_instance_links_to_its_invocations_and_back(notebooks):
    key = notebooks.key()
    notebooks.write(key, items=[1])
    response = page(notebooks, key)
    listing = notebooks.client.get(response.context["invocations_url"])
    rows = listing.context["rows"]
    assert [r["target"] for r in rows] == [f"{SERVICE}/{key}/write"]
    detail = notebooks.client.get(rows[0]["url"])
    back = detail.context["invocation"]["instance_url"]
    assert f"key={key}" in back and "pk=" in back
    assert [e.key for e in notebooks.client.get(back).context["entries"]] == ["items"]


def test_unknown_instance_shows_empty_state(notebooks):
    response = page(notebooks, notebooks.key("nobody"))
    assert response.context["entries"] == [] and "has no state" in response.content.decode()


def test_missing_service_or_key_redirects_to_the_list(notebooks):
    response = notebooks.client.get("/admin/django_restate/state/instance/?service=" + SERVICE)
    assert response.status_code == 302 and response.url == LIST


def test_json_values_are_stored_as_the_sdk_stores_them(notebooks):
    key = notebooks.key()
    notebooks.write(key, items=None)
    version = page(notebooks, key).context["version"]
    post(notebooks, key, version, operation="edit", key="items", value='{\n  "b": [1, 2],\n  "a": "é"\n}')
    assert notebooks.state(key)["items"] == json.dumps({"b": [1, 2], "a": "é"}).encode()

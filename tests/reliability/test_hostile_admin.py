"""Hostile input to the Restate pages of the Django admin: search and filter fields, page
numbers and ids in URLs, and the state editor's values, versions and operations.

Every row names the clear outcome it must get (a form error, an empty result, a 404, a
409 conflict) and then checks that nothing else changed: the edited object's state is
byte-for-byte what it was, and the suite's canary counter still reads its value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from django.test import Client

from django_restate.admin_api import queries
from django_restate.pytest_plugin import LiveRestate
from django_restate.state import state_version

from .test_hostile_inputs import CANARY_VALUE, counter_value
from .test_hostile_inputs import canary as canary  # a fixture, shared with the payload rows

pytestmark = pytest.mark.e2e

STATE_LIST = "/admin/django_restate/state/"
INSTANCE = "/admin/django_restate/state/instance/"
INVOCATIONS = "/admin/django_restate/invocation/"
COUNTER = "ReliabilityCounter"
INJECTION = "' OR '1'='1"


@dataclass(frozen=True)
class Get:
    id: str
    url: str
    params: dict[str, str]
    status: int
    fragment: str = ""  # in the page
    rows: int | None = None  # how many rows the page lists, when it is a list


SEARCHES = [
    # State list: the key prefix goes into SQL; the service must be one Restate knows.
    Get("state-prefix-injection", STATE_LIST, {"key_prefix": INJECTION}, 200, rows=0),
    Get("state-prefix-like-wildcard", STATE_LIST, {"service": COUNTER, "key_prefix": "%anary"}, 200, rows=0),
    Get("state-prefix-underscore-wildcard", STATE_LIST, {"service": COUNTER, "key_prefix": "_anary"}, 200, rows=0),
    Get("state-prefix-too-long", STATE_LIST, {"key_prefix": "x" * 5000}, 200, "at most 1000 characters", rows=0),
    Get("state-prefix-nul", STATE_LIST, {"key_prefix": "a\x00b"}, 200, "Null characters are not allowed", rows=0),
    Get("state-unknown-service", STATE_LIST, {"service": "NotAService"}, 200, "Select a valid choice", rows=0),
    Get("state-service-injection", STATE_LIST, {"service": f"{COUNTER}{INJECTION}"}, 200, "Select a valid choice"),
    Get("state-page-not-a-number", STATE_LIST, {"p": "abc"}, 200),
    Get("state-page-negative", STATE_LIST, {"p": "-5"}, 200),
    Get("state-page-huge", STATE_LIST, {"p": "9" * 30}, 200),
    # Invocation list filters.
    Get("invocations-key-injection", INVOCATIONS, {"key": INJECTION}, 200, rows=0),
    Get("invocations-status-injection", INVOCATIONS, {"status": f"running{INJECTION}"}, 200, "Select a valid choice"),
    Get("invocations-handler-too-long", INVOCATIONS, {"handler": "h" * 300}, 200, "at most 255 characters"),
    Get("invocations-handler-injection", INVOCATIONS, {"handler": INJECTION}, 200, rows=0),
    Get("invocations-date-garbage", INVOCATIONS, {"created_after": "yesterday'--"}, 200, "Enter a valid date/time"),
    Get("invocations-date-far-future", INVOCATIONS, {"created_after": "9999-12-31 23:59"}, 200, "1678 and 2261", 0),
    Get("invocations-date-far-past", INVOCATIONS, {"created_before": "0001-01-01 00:00"}, 200, "1678 and 2261", 0),
    Get("invocations-date-just-in-range", INVOCATIONS, {"created_after": "2261-12-31 00:00"}, 200, rows=0),
    # Ids and keys in URLs.
    Get("invocation-id-injection", INVOCATIONS + "inv_1'%20OR%20'1'='1/", {}, 404),
    Get("invocation-id-well-formed-unknown", INVOCATIONS + "inv_" + "A" * 30 + "/", {}, 404),
    Get("invocation-id-garbage", INVOCATIONS + "not-an-id/", {}, 404),
    Get("invocation-unknown-action", INVOCATIONS + "inv_" + "A" * 30 + "/drop_table/", {}, 302),
    Get("instance-key-injection", INSTANCE, {"service": COUNTER, "key": INJECTION}, 200, "has no state"),
    Get("instance-unknown-service", INSTANCE, {"service": "Nope'--", "key": "x"}, 200, "has no state"),
    Get("instance-pk-garbage", INSTANCE, {"service": COUNTER, "key": "{canary}", "pk": "1e99"}, 200, "canary"),
    Get("instance-pk-negative", INSTANCE, {"service": COUNTER, "key": "{canary}", "pk": "-1"}, 200, "canary"),
    Get("instance-without-service", INSTANCE, {"key": "x"}, 302),
]


@pytest.fixture
def staff(restate_live: LiveRestate, admin_client: Client) -> Client:
    return admin_client


@pytest.mark.parametrize("case", SEARCHES, ids=[c.id for c in SEARCHES])
def test_hostile_admin_search(restate_live: LiveRestate, staff: Client, canary: str, case: Get):
    params = {k: v.replace("{canary}", canary) for k, v in case.params.items()}
    response = staff.get(case.url, params)
    assert response.status_code == case.status, response.content[:500]
    if case.status == 200:
        html = response.content.decode()
        assert case.fragment in html
        assert "Traceback" not in html
        # A clear outcome: a form error or an empty result, never a failed query behind a banner.
        assert response.context.get("restate_error") is None, response.context.get("restate_error")
        if case.rows is not None:
            assert len(response.context["rows"]) == case.rows
    assert counter_value(restate_live, canary) == CANARY_VALUE


def test_positive_control_the_prefix_search_finds_the_canary(restate_live: LiveRestate, staff: Client, canary: str):
    """The rows above that find nothing would pass vacuously if the search never found anything."""
    response = staff.get(STATE_LIST, {"service": COUNTER, "key_prefix": canary[:-2]})
    assert [r["service_key"] for r in response.context["rows"]] == [canary]


# -- the state editor ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    id: str
    data: dict[str, str]  # posted; "{version}" is the current version
    status: int
    fragment: str = ""  # in the page (a message, a conflict notice)
    field: str | None = None  # the form field that must carry the error
    applied: dict[str, bytes] | None = None  # the state afterwards; None means unchanged


def edit(value: str, encoding: str = "json", key: str = "value", version: str = "{version}") -> dict[str, str]:
    return {"operation": "edit", "key": key, "value": value, "encoding": encoding, "version": version}


STALE = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"  # the empty state's version: stale once there is state
CONFLICT = "someone else changed this state"

EDITS = [
    # Stale or forged versions: reported as a conflict, nothing written.
    Edit("stale-version", edit("6", version=STALE), 409, CONFLICT),
    Edit("forged-version", edit("6", version="../../etc/passwd"), 409, CONFLICT),
    Edit("version-injection", edit("6", version=INJECTION), 409, CONFLICT),
    # Tampered hidden fields: refused by the form.
    Edit("version-too-long", edit("6", version="v" * 500), 200, field="version"),
    Edit("version-missing", {k: v for k, v in edit("6").items() if k != "version"}, 200, field="version"),
    Edit("unknown-operation", {**edit("6"), "operation": "drop_table"}, 200, field="operation"),
    Edit("unknown-encoding", edit("6", "rot13"), 200, field="encoding"),
    # Values and keys that cannot be stored as typed.
    Edit("invalid-json", edit("{"), 200, "This is not valid JSON", "value"),
    Edit("nan-is-not-json", edit("NaN"), 200, "This is not valid JSON", "value"),
    Edit("number-too-large-for-json", edit('{"x": [1e400]}'), 200, "too large", "value"),
    Edit("edit-by-key-ref", {**edit("6"), "key": "", "key_ref": "dmFsdWU="}, 302, applied={"value": b"6"}),
    Edit("key-ref-garbage", {**edit("6"), "key": "", "key_ref": "!!"}, 200, "not a state key reference", "key"),
    Edit("unchanged-value-writes-nothing", edit("5"), 302, "", applied={"value": b"5"}),
    Edit("deeply-nested-json", edit("[" * 100_000 + "]" * 100_000), 200, "nested too deeply", "value"),
    Edit("invalid-base64", edit("!!!not base64", "base64"), 200, "base64", "value"),
    Edit("nul-in-key", edit("6", key="val\x00ue"), 200, "Null characters are not allowed", "key"),
    Edit("key-too-long", edit("6", key="k" * 1001), 200, "at most 1000 characters", "key"),
    Edit("edit-missing-key", edit("6", key="nope"), 200, "no longer exists", "key"),
    Edit(
        "delete-missing-key", {"operation": "delete", "key": "nope", "version": "{version}"}, 200, "no state key", "key"
    ),
    Edit("add-existing-key", {**edit("6"), "operation": "add"}, 200, "already exists", "key"),
    Edit("body-over-upload-limit", edit('"' + "x" * 3 * 2**20 + '"'), 400),
    # Positive controls: a well-formed change with the shown version lands, hostile text verbatim.
    Edit("edit-lands", edit("6"), 302, applied={"value": b"6"}),
    Edit(
        "hostile-text-added-verbatim",
        {**edit(f"<script>{INJECTION}</script>", "text", key="note"), "operation": "add"},
        302,
        applied={"value": b"5", "note": f"<script>{INJECTION}</script>".encode()},
    ),
]


@pytest.mark.parametrize("case", EDITS, ids=[c.id for c in EDITS])
def test_hostile_state_edit(restate_live: LiveRestate, staff: Client, canary: str, case: Edit):
    key = f"edit-{uuid.uuid4().hex[:10]}"
    assert httpx.post(f"{restate_live.ingress_url}/{COUNTER}/{key}/add", json=5).json() == 5
    before = queries.state(restate_live.admin, COUNTER, key)
    assert before == {"value": b"5"}
    data = {k: v.replace("{version}", state_version(before)) for k, v in case.data.items()}

    response = staff.post(f"{INSTANCE}?service={COUNTER}&key={key}", data)

    assert response.status_code == case.status, response.content[:500]
    if case.fragment:
        assert case.fragment in response.content.decode()
    if case.field:
        errors = response.context["form"].errors
        assert case.field in errors, errors
    after = queries.state(restate_live.admin, COUNTER, key)
    assert after == (case.applied if case.applied is not None else before)
    if case.applied is not None:
        # The object itself sees the edit: the next increment builds on it.
        expected = int(case.applied["value"]) + 1
        assert httpx.post(f"{restate_live.ingress_url}/{COUNTER}/{key}/add", json=1).json() == expected
    assert counter_value(restate_live, canary) == CANARY_VALUE


@pytest.mark.parametrize("who", ["anonymous", "staff-without-permissions"])
def test_state_edit_needs_permission(restate_live: LiveRestate, canary: str, django_user_model, who: str):
    client = Client()
    if who != "anonymous":
        user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
        client.force_login(user)
    before = queries.state(restate_live.admin, COUNTER, canary)
    response = client.post(f"{INSTANCE}?service={COUNTER}&key={canary}", edit("999", version=state_version(before)))
    assert response.status_code == (302 if who == "anonymous" else 403)
    assert queries.state(restate_live.admin, COUNTER, canary) == before


def test_the_admin_matrix_rows():
    assert len(SEARCHES) + 1 + len(EDITS) + 2 >= 40

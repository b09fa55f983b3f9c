"""What non-Python Restate clients send, against a real restate-server (issue 14's decoding points).

Each request carries the bytes a Kotlin, TypeScript or Go client puts on the wire: null fields
dropped, no ``"type"`` on a concrete class of a sealed hierarchy, an empty body. The bare SDK
accepts all of them; we accept them too, and still answer input that cannot fit with one
terminal 400 (never a retry loop)."""

from __future__ import annotations

import sys
import typing
from collections.abc import Iterator

import httpx
import pytest

from django_restate.admin_api import AdminAPI
from django_restate.testing.server import RestateServer
from tests.interop_app.restate_services import ProxyRequest

pytestmark = pytest.mark.e2e


@pytest.fixture
def ingress(restate_server: RestateServer, restate_live_server) -> Iterator[httpx.Client]:
    # A short timeout: an invocation that retried instead of failing would hang the call.
    with httpx.Client(base_url=restate_server.ingress_url, timeout=20) as client:
        yield client


def post(ingress: httpx.Client, path: str, body: bytes | None) -> httpx.Response:
    headers = {"content-type": "application/json"} if body else {}
    return ingress.post(path, content=body or b"", headers=headers)


def test_omitted_optional_keys_read_as_none(ingress):
    # What a Kotlin/TypeScript/Go client sends for a ProxyRequest without key, delay or idempotency key.
    sent = b'{"serviceName":"Counter","handlerName":"add","message":[1,2]}'
    answer = post(ingress, "/Interop/proxy", sent)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "serviceName": "Counter",
        "virtualObjectKey": None,
        "handlerName": "add",
        "message": [1, 2],
        "delayMillis": None,
        "idempotencyKey": None,
    }
    # A dataclass field, and a pydantic field, the same way; a key that is needed still is.
    assert post(ingress, "/Interop/reading", b'{"sensor":"s1"}').json() == {
        "sensor": "s1",
        "celsius": None,
        "unit": "C",
    }
    missing = post(ingress, "/Interop/proxy", b'{"handlerName":"add","message":[]}')
    assert missing.status_code == 400 and "serviceName: Field required" in missing.text


def test_typing_typeddict_is_served_on_this_python(ingress):
    assert type(ProxyRequest).__module__ == "typing" and typing.is_typeddict(ProxyRequest)
    assert sys.version_info >= (3, 11)  # on 3.11 pydantic alone refuses typing.TypedDict
    sent = b'{"serviceName":"A","handlerName":"b","message":[],"virtualObjectKey":"k","delayMillis":5}'
    assert post(ingress, "/Interop/proxy", sent).json()["delayMillis"] == 5


def test_concrete_class_of_a_sealed_hierarchy_without_its_type(ingress):
    answer = post(ingress, "/Interop/circle", b'{"radius":2.5}')  # Circle, serialised as itself
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"type": "circle", "radius": 2.5, "label": None}
    # Polymorphic senders include the discriminator, which still chooses the class.
    assert post(ingress, "/Interop/shape", b'{"type":"square","side":1}').json() == "square"
    assert post(ingress, "/Interop/shape", b'{"type":"circle","radius":1}').json() == "circle"
    wrong = post(ingress, "/Interop/circle", b'{"type":"square","radius":1}')
    assert wrong.status_code == 400 and "type: Input should be 'circle'" in wrong.text


def test_empty_body_is_none_where_the_type_admits_it(ingress):
    assert post(ingress, "/Interop/maybe_note", None).json() == "no note"
    assert post(ingress, "/Interop/maybe_note", b'{"text":"hi"}').json() == "hi"
    refused = post(ingress, "/Interop/note", None)
    assert refused.status_code == 400
    assert "an empty body is not a valid input" in refused.text


def test_a_lazy_input_type_is_validated_at_once(ingress, restate_server):
    answer = post(ingress, "/Interop/total", b'[1,"two",3]')
    assert answer.status_code == 400, answer.text  # terminal, answered once: not retried forever
    assert "Bad input: 1: Input should be a valid integer" in answer.text
    assert post(ingress, "/Interop/total", b"[1,2,3]").json() == 6
    with AdminAPI(restate_server.admin_url) as admin:
        rows = admin.query(
            "SELECT status, retry_count FROM sys_invocation WHERE target_service_name = 'Interop' "
            "AND target_handler_name = 'total'"
        )
    assert rows and all(r["status"] == "completed" for r in rows), rows


def test_a_union_of_contexts_is_a_shared_handler(ingress, restate_server):
    assert post(ingress, "/InteropCounter/u1/add", b"5").json() == 5
    assert post(ingress, "/InteropCounter/u1/add", b"2").json() == 7  # add awaited get(ctx) directly
    assert post(ingress, "/InteropCounter/u1/get", None).json() == 7
    with AdminAPI(restate_server.admin_url) as admin:
        service = next(s for s in admin.services() if s["name"] == "InteropCounter")
    assert {h["name"]: h["ty"] for h in service["handlers"]} == {"add": "Exclusive", "get": "Shared"}


def test_validate_input_false_decodes_like_the_sdk(ingress):
    # Parse only: the handler gets exactly what was sent, no keys added, nothing checked.
    assert post(ingress, "/Interop/raw_proxy", b'{"serviceName":"X"}').json() == {"serviceName": "X"}
    assert post(ingress, "/LooseInterop/proxy", b'{"anything":[1]}').json() == {"anything": [1]}
    assert post(ingress, "/LooseInterop/note", b'{"text":"hi"}').json() == "hi"  # a model is still built
    bad_model = post(ingress, "/LooseInterop/note", b'{"nope":1}')
    assert bad_model.status_code == 400 and "text: Field required" in bad_model.text
    malformed = post(ingress, "/LooseInterop/proxy", b"{not json")
    assert malformed.status_code == 400 and "JSONDecodeError" in malformed.text  # the bare SDK: 500, retried
    strict = post(ingress, "/LooseInterop/strict", b"{}")  # @handler(validate_input=True) wins over Meta
    assert strict.status_code == 400 and "serviceName: Field required" in strict.text

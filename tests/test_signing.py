"""Security of the endpoint: with RESTATE["IDENTITY_KEYS"] only requests signed by the configured
restate-server get through (checked with real servers), and the endpoint, and nothing else, is
outside Django's CSRF and session middleware."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings

from django_restate.admin_api import AdminAPI, AdminAPIError
from django_restate.asgi import RestateEndpoint, RestateRouter
from django_restate.client import RestateClient
from django_restate.deployments import register
from django_restate.testing.live import LiveASGIServer
from django_restate.testing.server import RestateServer
from tests.runtime_app.restate_services import NoteIn, RuntimeNotebook

pytestmark = pytest.mark.e2e

KEY_ENV = "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(raw: bytes) -> str:
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = BASE58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def signing_key(folder: Path, name: str) -> tuple[Path, str]:
    """An ed25519 key as `openssl genpkey -algorithm ed25519` writes it, and its publickeyv1_ id."""
    key = Ed25519PrivateKey.generate()
    pem = folder / f"{name}.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pem, "publickeyv1_" + base58(raw)


def test_base58_matches_the_reference_alphabet():
    assert base58(b"\0\0\x01") == "112"
    assert base58(b"hello world") == "StV1DL6CwTryKyV"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("keys")
    return {"ours": signing_key(folder, "ours"), "theirs": signing_key(folder, "theirs")}


@pytest.fixture(scope="module")
def signed_server(keys) -> Iterator[RestateServer]:
    with RestateServer(env={KEY_ENV: str(keys["ours"][0])}) as server:
        yield server


@pytest.fixture(scope="module")
def signed_endpoint(keys, django_db_setup, django_db_blocker) -> Iterator[LiveASGIServer]:
    """A fresh endpoint that only accepts requests signed with our server's key."""
    restate = {**settings.RESTATE, "IDENTITY_KEYS": [keys["ours"][1]]}
    with override_settings(RESTATE=restate):
        endpoint = RestateEndpoint()
        endpoint.sdk_app  # noqa: B018  (the SDK app, and its identity keys, are built now)
    with LiveASGIServer(RestateRouter(ASGIHandler(), endpoint), "uvicorn") as live:
        yield live


def test_server_with_the_key_registers_and_invokes(signed_server, signed_endpoint, transactional_db):
    with AdminAPI(signed_server.admin_url) as admin:
        result = register(admin, signed_endpoint.url + "/restate")
    assert "RuntimeNotebook" in {s["name"] for s in result.services}
    with RestateClient(signed_server.ingress_url) as ingress:
        note = ingress.object(RuntimeNotebook, uuid.uuid4().hex).write(NoteIn(text="signed"))
    assert note.text == "signed"


def test_unsigned_requests_get_401(signed_endpoint):
    assert httpx.get(signed_endpoint.url + "/restate/discover").status_code == 401
    invoke = httpx.post(
        signed_endpoint.url + "/restate/invoke/RuntimeNotebook/count",
        headers={"content-type": "application/vnd.restate.invocation.v5"},
        content=b"",
    )
    assert invoke.status_code == 401
    # Health stays open, so load balancers can probe the endpoint without a key.
    assert httpx.get(signed_endpoint.url + "/restate/health").status_code == 200


@pytest.mark.parametrize("signer", ["theirs", None])
def test_server_with_another_key_or_none_is_refused(signer, keys, signed_endpoint):
    env = {KEY_ENV: str(keys[signer][0])} if signer else {}
    with (
        RestateServer(env=env) as other,
        AdminAPI(other.admin_url) as admin,
        pytest.raises(AdminAPIError, match="401"),
    ):
        register(admin, signed_endpoint.url + "/restate")


# -- CSRF and sessions --------------------------------------------------------------------------


def test_endpoint_is_outside_csrf_and_sessions(restate_live):
    """Restate posts without a CSRF token or cookie; Django views keep their protection."""
    live = restate_live.django.url
    # Not 403: the POST reached the SDK, which answered it in its own words.
    posted = httpx.post(live + "/restate/discover", content=b"{}")
    assert (posted.status_code, posted.text) == (415, "Unsupported discovery version */*")
    assert "csrftoken" not in posted.cookies and "sessionid" not in posted.cookies
    assert "Cookie" not in posted.headers.get("vary", "")
    # A Django view under the same server still refuses a POST without a CSRF token...
    admin_login = httpx.post(live + "/admin/login/", data={"username": "x", "password": "y"})
    assert admin_login.status_code == 403
    assert b"CSRF" in admin_login.content
    # ...and keeps its session middleware (it varies on the cookie).
    assert "Cookie" in httpx.get(live + "/admin/login/").headers.get("vary", "")

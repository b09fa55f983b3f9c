"""Hostile input across the public surfaces, one table per surface, each row with the clear
outcome it must get, and a check that nothing else changed.

Surfaces: handler payloads through the real ingress, the endpoint's paths served by
Django, ``manage.py restate_register`` arguments, and the ``RESTATE`` setting. The
canary (one counter key with a known value, created once per session) must read the
same after every row.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_restate.admin_api.sql import quote
from django_restate.conf import restate_settings
from django_restate.pytest_plugin import LiveRestate
from django_restate.testing.server import free_port
from tests.reliability_app.models import IncrementAudit

from .harness import ROOT

pytestmark = pytest.mark.e2e

CANARY_VALUE = 7
_canary: dict[str, str] = {}


@pytest.fixture
def canary(restate_live: LiveRestate) -> str:
    """A counter key holding CANARY_VALUE; each row checks it still does afterwards."""
    if "key" not in _canary:
        key = f"canary-{uuid.uuid4().hex[:8]}"
        response = httpx.post(f"{restate_live.ingress_url}/ReliabilityCounter/{key}/add", json=CANARY_VALUE)
        assert response.json() == CANARY_VALUE
        _canary["key"] = key
    return _canary["key"]


def counter_value(live: LiveRestate, key: str) -> int:
    return httpx.post(f"{live.ingress_url}/ReliabilityCounter/{key}/value", timeout=30).json()


def restate_state(live: LiveRestate, service: str, key: str) -> dict[str, str]:
    rows = live.admin.query(
        f"SELECT key, value_utf8 FROM state WHERE service_name = {quote(service)} AND service_key = {quote(key)}"
    )
    return {row["key"]: row["value_utf8"] for row in rows}


# -- handler payloads through the real ingress ----------------------------------------------------


@dataclass(frozen=True)
class Payload:
    id: str
    target: str  # "Service/handler"; for the counter the key is filled in per row
    body: bytes
    status: int
    fragment: str = ""  # in the error message, or the JSON answer's repr on success
    content_type: str = "application/json"
    answer: Any = field(default=None)
    ingress_refuses: bool = False  # refused by Restate's ingress itself: no invocation is created


DEEP = 10_000
FIVE_MB = 5 * 1024 * 1024

PAYLOADS = [
    # Malformed JSON: refused once with 400, never retried, the state untouched.
    Payload("malformed-json", "add", b"{not json", 400, "Invalid JSON"),
    Payload("truncated-json", "line", b'{"sku": "tea", "quantity"', 400, "Invalid JSON"),
    Payload("trailing-garbage", "add", b"1 2", 400, "trailing characters"),
    Payload("utf8-bom", "add", b"\xef\xbb\xbf1", 400, "Invalid JSON"),
    Payload("empty-body", "add", b"", 400, "Empty body not allowed", ingress_refuses=True),
    Payload("empty-body-for-str", "length", b"", 400, "Empty body not allowed", ingress_refuses=True),
    Payload(
        "text-plain-content-type", "add", b"1", 400, "does not match", content_type="text/plain", ingress_refuses=True
    ),
    Payload("no-content-type", "add", b"1", 400, "does not match", content_type="", ingress_refuses=True),
    # Wrong types.
    Payload("string-for-int", "add", b'"many"', 400, "valid integer"),
    Payload("object-for-int", "add", b'{"amount": 1}', 400, "valid integer"),
    Payload("array-for-int", "add", b"[1]", 400, "valid integer"),
    Payload("null-for-int", "add", b"null", 400, "valid integer"),
    Payload("fraction-for-int", "add", b"1.5", 400, "fractional part"),
    Payload("nan-for-int", "add", b"NaN", 400, "finite number"),
    Payload("infinity-for-int", "add", b"-Infinity", 400, "finite number"),
    Payload("number-for-str", "length", b"42", 400, "valid string"),
    Payload("array-for-model", "line", b"[1, 2]", 400, "Input should be an object"),
    Payload("missing-field", "line", b'{"sku": "tea"}', 400, "quantity: Field required"),
    Payload("out-of-range", "line", b'{"sku": "tea", "quantity": 0}', 400, "greater than 0"),
    Payload("too-long-string-field", "line", b'{"sku": "' + b"x" * 33 + b'", "quantity": 1}', 400, "at most 32"),
    Payload(
        "too-many-list-items",
        "line",
        json.dumps({"sku": "t", "quantity": 1, "tags": ["a"] * 11}).encode(),
        400,
        "at most 10",
    ),
    # Pydantic's lax mode (as in FastAPI) coerces these; documented, not an accident.
    Payload("numeric-string-coerced", "add", b'"5"', 200, answer=5),
    Payload("bool-coerced-to-int", "add", b"true", 200, answer=1),
    Payload(
        "extra-field-ignored",
        "line",
        b'{"sku": "t", "quantity": 1, "admin": true}',
        200,
        answer={"sku": "t", "quantity": 1, "tags": []},
    ),
    Payload(
        "duplicate-key-last-wins",
        "line",
        b'{"sku": "t", "quantity": 1, "quantity": 2}',
        200,
        answer={"sku": "t", "quantity": 2, "tags": []},
    ),
    # Huge numbers and bodies.
    Payload("huge-integer", "add", b"9" * 5000, 400, "number out of range"),
    Payload("five-mb-digits-for-int", "add", b"9" * FIVE_MB, 400, "number out of range"),
    Payload("five-mb-string", "length", json.dumps("x" * FIVE_MB).encode(), 200, answer=FIVE_MB),
    # Nesting: the JSON parser stops at depth 200 instead of exhausting the stack.
    Payload("nesting-150-ok", "depth", b"[" * 150 + b"]" * 150, 200, answer=150),
    Payload("nesting-10k-arrays", "depth", b"[" * DEEP + b"]" * DEEP, 400, "recursion limit exceeded"),
    Payload("nesting-10k-objects", "depth", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400, "recursion limit exceeded"),
    Payload("nesting-10k-for-int", "add", b"[" * DEEP + b"]" * DEEP, 400, "recursion limit exceeded"),
    # Encodings.
    Payload("invalid-utf8", "add", b"\xff\xfe", 400, "Invalid JSON"),
    Payload("invalid-utf8-in-string", "length", b'"\xff\xfe"', 400, "Invalid JSON"),
    Payload("lone-surrogate-escape", "length", b'"\\ud800"', 400, "Invalid JSON"),
    Payload("nul-character", "length", b'"a\\u0000b"', 200, answer=3),
    Payload("non-bmp-characters", "length", json.dumps("😀𝄞").encode(), 200, answer=2),
]

TARGETS = {
    "add": "ReliabilityCounter/{key}/add",
    "length": "ReliabilityEcho/length",
    "line": "ReliabilityEcho/line",
    "depth": "ReliabilityEcho/depth",
}


@pytest.mark.parametrize("case", PAYLOADS, ids=[c.id for c in PAYLOADS])
def test_hostile_payload(restate_live: LiveRestate, canary: str, case: Payload):
    key = f"hostile-{uuid.uuid4().hex[:8]}"
    path = TARGETS[case.target].format(key=key)
    response = httpx.post(
        f"{restate_live.ingress_url}/{path}",
        content=case.body,
        headers={"content-type": case.content_type},
        timeout=60,
    )
    assert response.status_code == case.status, response.text[:500]
    if case.status == 200:
        assert response.json() == case.answer
    else:
        message = response.json()["message"]
        assert case.fragment in message
        assert len(message) < 2000, "the error echoes the (possibly huge) input back"
    if case.ingress_refuses:
        assert "x-restate-id" not in response.headers  # no invocation was even created
    elif case.status != 200:
        # Refused once and for good: completed with the 400, not retried in a loop.
        [row] = restate_live.admin.query(
            "SELECT status, completion_failure FROM sys_invocation "
            f"WHERE id = {quote(response.headers['x-restate-id'])}"
        )
        assert row["status"] == "completed" and "[400]" in row["completion_failure"], row
    if case.target == "add":
        applied = case.answer if case.status == 200 else None
        assert restate_state(restate_live, "ReliabilityCounter", key) == (
            {"value": json.dumps(applied)} if applied is not None else {}
        )
        assert IncrementAudit.objects.filter(key=key).count() == (1 if applied is not None else 0)
    assert counter_value(restate_live, canary) == CANARY_VALUE


# -- the endpoint's paths, straight to Django --------------------------------------------------------


@dataclass(frozen=True)
class Path_:
    id: str
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)


PATHS = [
    Path_("unknown-service", "POST", "/restate/invoke/Unknown/x", 404),
    Path_("unknown-handler", "POST", "/restate/invoke/ReliabilityCounter/nope", 404),
    Path_("invoke-without-handler", "POST", "/restate/invoke/ReliabilityCounter", 404),
    Path_("encoded-traversal", "GET", "/restate/%2e%2e/%2e%2e/etc/passwd", 404),
    Path_("traversal-to-admin", "GET", "/restate/..%2f..%2fadmin/", 404),
    Path_("encoded-slash-in-service", "POST", "/restate/invoke/Reliability%2FCounter/add", 404),
    Path_("nul-in-path", "POST", "/restate/invoke/Reliability%00Counter/add", 404),
    Path_("very-long-path", "POST", "/restate/invoke/" + "A" * 8000 + "/x", 404),
    Path_("discover-wrong-accept", "GET", "/restate/discover", 415, {"accept": "text/html"}),
    Path_("prefix-lookalike-goes-to-django", "GET", "/restatex/discover", 404),
    Path_("invoke-without-restate-headers", "POST", "/restate/invoke/ReliabilityCounter/add", 415),
    Path_("invoke-with-get", "GET", "/restate/invoke/ReliabilityCounter/add", 415),
    Path_(
        "invoke-with-garbage-protocol",
        "POST",
        "/restate/invoke/ReliabilityCounter/add",
        415,
        {"content-type": "application/vnd.restate.invocation.v99"},
    ),
]


@pytest.mark.parametrize("case", PATHS, ids=[c.id for c in PATHS])
def test_hostile_endpoint_path(restate_live: LiveRestate, canary: str, case: Path_):
    # A raw path, so httpx does not normalise the dot segments away.
    url = httpx.URL(restate_live.django.url).copy_with(raw_path=case.path.encode())
    response = httpx.request(case.method, url, headers=case.headers, timeout=30)
    assert response.status_code == case.status, response.text[:300]
    assert b"Traceback" not in response.content
    assert httpx.get(f"{restate_live.django.url}/restate/health").status_code == 200
    assert counter_value(restate_live, canary) == CANARY_VALUE


# -- manage.py restate_register arguments -----------------------------------------------------------


CLOSED_PORT = free_port()  # nothing listens here


@dataclass(frozen=True)
class Register:
    id: str
    args: tuple[str, ...]
    fragment: str  # in the CommandError message
    url: str = "{deployment}"  # the deployment URL argument; placeholders are filled in per run


REGISTER = [
    Register("unreachable-admin", ("--admin-url", f"http://127.0.0.1:{CLOSED_PORT}"), f"127.0.0.1:{CLOSED_PORT}"),
    Register("admin-url-not-a-url", ("--admin-url", "not a url"), "The admin URL 'not a url' is not an http(s) URL"),
    Register(
        "admin-url-ftp", ("--admin-url", "ftp://127.0.0.1/"), "The admin URL 'ftp://127.0.0.1/' is not an http(s)"
    ),
    Register("admin-url-garbage", ("--admin-url", "::::"), "The admin URL '::::' is not an http(s) URL"),
    Register("admin-url-is-not-restate", ("--admin-url", "{django}"), "answered 404"),
    Register(
        "unreachable-deployment", (), "Cannot reach the deployment", url=f"http://127.0.0.1:{CLOSED_PORT}/restate"
    ),
    Register("deployment-not-restate", (), "the Restate SDK endpoint is mounted", url="{django}/not-restate"),
    Register("deployment-url-garbage", (), "The deployment URL '::::' is not an http(s) URL", url="::::"),
    Register("deployment-url-javascript", (), "is not an http(s) URL", url="javascript:alert(1)"),
    Register("header-without-colon", ("-H", "Authorization Bearer x"), "expected 'Name: value'"),
    Register("header-without-name", ("-H", ": value"), "expected 'Name: value'"),
    Register("header-with-newline", ("-H", "X-Evil: a\r\nHost: evil"), "Illegal header value"),
    Register("deployment-header-without-colon", ("--deployment-header", "X-Token"), "expected 'Name: value'"),
]


@pytest.mark.parametrize("case", REGISTER, ids=[c.id for c in REGISTER])
def test_hostile_register_arguments(restate_live: LiveRestate, case: Register):
    before = sorted(d["id"] for d in restate_live.admin.deployments())
    places = {"{django}": restate_live.django.url, "{deployment}": restate_live.deployment_url}
    args = [case.url, *case.args]
    if "--admin-url" not in args:
        args += ["--admin-url", restate_live.server.admin_url]
    for placeholder, value in places.items():
        args = [a.replace(placeholder, value) for a in args]
    with pytest.raises(CommandError) as raised:
        call_command("restate_register", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert case.fragment in str(raised.value)
    assert sorted(d["id"] for d in restate_live.admin.deployments()) == before


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("--admin-url", f"http://127.0.0.1:{CLOSED_PORT}"), 1, f"http://127.0.0.1:{CLOSED_PORT}"),
        (("-H", "no-colon"), 2, "expected 'Name: value'"),
    ],
    ids=["unreachable-admin-exit-1", "malformed-header-exit-2"],
)
def test_register_fails_cleanly_from_the_shell(args, code, fragment):
    """What an operator sees: a non-zero exit and one line naming the problem, no traceback."""
    done = subprocess.run(
        [sys.executable, "manage.py", "restate_register", "http://127.0.0.1:8000/restate", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code, done.stderr
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr


# -- the RESTATE setting ------------------------------------------------------------------------


GOOD = {
    "ADMIN_URL": "http://127.0.0.1:9070",
    "INGRESS_URL": "http://127.0.0.1:8080",
    "DEPLOYMENT_URL": "http://127.0.0.1:8000/restate",
}

SETTINGS = [
    ("not-a-dict", "http://127.0.0.1:9070", "django_restate.E001"),
    ("a-list", ["ADMIN_URL"], "django_restate.E001"),
    ("unknown-key", {**GOOD, "ADMIN_URLS": "http://x"}, "django_restate.E002"),
    ("lowercase-key", {**GOOD, "admin_url": "http://x"}, "django_restate.E002"),
    ("admin-url-without-scheme", {**GOOD, "ADMIN_URL": "127.0.0.1:9070"}, "django_restate.E003"),
    ("ingress-url-javascript", {**GOOD, "INGRESS_URL": "javascript:alert(1)"}, "django_restate.E003"),
    ("deployment-url-file", {**GOOD, "DEPLOYMENT_URL": "file:///etc/passwd"}, "django_restate.E003"),
    ("admin-url-none", {**GOOD, "ADMIN_URL": None}, "django_restate.E003"),
    ("identity-keys-a-string", {**GOOD, "IDENTITY_KEYS": "publickeyv1_abc"}, "django_restate.E004"),
    (
        "identity-keys-not-public-keys",
        {**GOOD, "IDENTITY_KEYS": ["-----BEGIN PRIVATE KEY-----"]},
        "django_restate.E004",
    ),
    ("deployment-url-off-the-endpoint", {**GOOD, "DEPLOYMENT_URL": "http://127.0.0.1:8000/api"}, "django_restate.E005"),
]


@pytest.mark.parametrize(("value", "check_id"), [s[1:] for s in SETTINGS], ids=[s[0] for s in SETTINGS])
def test_hostile_setting(value, check_id):
    before = dict(restate_settings.as_dict())
    with override_settings(RESTATE=value, DEBUG=True):
        found = [m for m in run_checks() if m.id and m.id.startswith("django_restate")]
    assert check_id in [m.id for m in found]
    assert all(m.hint for m in found), "every check says what to write instead"
    assert restate_settings.as_dict() == before  # nothing outlives the bad configuration


def test_the_matrix_is_at_least_forty_rows():
    rows = len(PAYLOADS) + len(PATHS) + len(REGISTER) + 2 + len(SETTINGS)
    assert rows >= 40, rows

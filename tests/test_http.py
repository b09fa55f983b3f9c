"""``django_restate._http``: one way from the settings to an HTTP client, one error mapping,
credentials never printed, and path segments that stay the segment they were."""

from __future__ import annotations

import httpx
import pytest
from django.test import override_settings

from django_restate import _http
from django_restate.admin_api import AdminAPI
from django_restate.exceptions import AdminAPIError, AdminAPIUnreachable, RestateError


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9070", "http://127.0.0.1:9070"),
        ("http://user:secret@127.0.0.1:9070/x?y=1", "http://***@127.0.0.1:9070/x?y=1"),
        ("https://token@restate.example.com", "https://***@restate.example.com"),
        ("http://us%40er:p%3Ass@h:1", "http://***@h:1"),
        ("http://a:b@c@h:1/", "http://***@h:1/"),
        ("not a url", "not a url"),
        ("http://[::1", "http://[::1"),
    ],
)
def test_redact_url_drops_the_user_and_password(url, shown):
    assert _http.redact_url(url) == shown


def test_redact_text_finds_urls_inside_a_message():
    text = "failed to reach http://alice:pw@10.0.0.1:9070/query and https://k@x.io"
    assert _http.redact_text(text) == "failed to reach http://***@10.0.0.1:9070/query and https://***@x.io"


@pytest.mark.parametrize(
    ("value", "segment"),
    [("..", "%2E%2E"), (".", "%2E"), ("a/b", "a%2Fb"), ("...", "..."), ("a..b", "a..b"), ("é ?#", "%C3%A9%20%3F%23")],
)
def test_path_segment_encodes_dot_segments_and_reserved_characters(value, segment):
    assert _http.path_segment(value) == segment
    url = httpx.Request("GET", f"http://h/services/{_http.path_segment(value)}/state").url
    assert url.raw_path == f"/services/{segment}/state".encode()  # httpx does not resolve it away


def test_the_shared_client_is_reused_per_settings_and_rebuilt_when_they_change():
    with override_settings(RESTATE={"ADMIN_URL": "http://127.0.0.1:1", "ADMIN_HEADERS": {"x-a": "1"}}):
        first = _http.shared_client("ADMIN")
        assert _http.shared_client("ADMIN") is first
        assert AdminAPI().client is first
        assert str(first.base_url) == "http://127.0.0.1:1"
        assert first.headers["x-a"] == "1"
        with override_settings(RESTATE={"ADMIN_URL": "http://127.0.0.1:2", "TIMEOUT": 3}):
            second = _http.shared_client("ADMIN")
            assert second is not first
            assert str(second.base_url) == "http://127.0.0.1:2"
            assert second.timeout.read == 3
        assert first.is_closed
        assert str(_http.shared_client("ADMIN").base_url) == "http://127.0.0.1:1"


def test_closing_an_admin_api_leaves_the_shared_client_open_and_closes_its_own():
    shared = AdminAPI()
    with shared:
        pass
    assert not shared.client.is_closed
    own = AdminAPI("http://127.0.0.1:1")
    with own:
        pass
    assert own.client.is_closed


def test_explicit_arguments_override_the_settings_and_headers_add_up():
    with override_settings(RESTATE={"INGRESS_URL": "http://h:8080/", "INGRESS_HEADERS": {"a": "1"}, "TIMEOUT": 5}):
        where = _http.target("INGRESS", headers={"b": "2"})
        assert (where.url, dict(where.headers), where.timeout) == ("http://h:8080", {"a": "1", "b": "2"}, 5.0)
        assert _http.target("INGRESS", "http://other:1", timeout=1).url == "http://other:1"


def refusing(message: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(message, request=request)

    return httpx.MockTransport(handler)


def test_an_unreachable_admin_api_is_named_without_its_credentials():
    api = AdminAPI("http://admin:hunter2@127.0.0.1:9", transport=refusing("refused by http://admin:hunter2@x"))
    with pytest.raises(AdminAPIUnreachable) as caught:
        api.health()
    assert "hunter2" not in str(caught.value)
    assert "http://***@127.0.0.1:9" in str(caught.value)
    assert caught.value.url == "http://***@127.0.0.1:9"
    assert isinstance(caught.value, RestateError)


def test_an_admin_api_error_names_the_url_without_credentials_and_credentials_are_sent_as_basic_auth():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, json={"message": "boom"})

    api = AdminAPI("http://admin:hunter2@127.0.0.1:9", transport=httpx.MockTransport(handler))
    with pytest.raises(AdminAPIError) as caught:
        api.services()
    assert str(caught.value) == "Restate admin API GET http://***@127.0.0.1:9/services answered 500: boom"
    assert isinstance(caught.value, RestateError)
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_a_read_timeout_can_be_told_apart_from_unreachable():
    class Slow(Exception):
        def __init__(self, url: str, timeout: float) -> None:
            super().__init__(url, timeout)

    where = _http.Target("INGRESS", "http://u:p@h:1", timeout=2.0)
    request = httpx.Request("GET", "http://h:1")
    slow = _http.transport_error(
        httpx.ReadTimeout("late", request=request), where, unreachable=AdminAPIUnreachable, timed_out=Slow
    )
    assert isinstance(slow, Slow) and slow.args == ("http://***@h:1", 2.0)
    refused = _http.transport_error(httpx.ConnectError("", request=request), where, unreachable=AdminAPIUnreachable)
    assert isinstance(refused, AdminAPIUnreachable) and refused.reason == "ConnectError"

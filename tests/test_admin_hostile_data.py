"""Hostile data already inside Restate, seen through the admin (issue 12, §4): values that a
browser round-trip used to rewrite, keys that a form could not carry, names that broke URL
reversing, dot segments, and credentials in URLs. Each test fails without its fix.

The editor is driven as a browser drives it: the value comes from the page's own ``<textarea>``
(an HTML parser drops the newline right after the tag) and goes back with CRLF line breaks.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import quote as urlquote

import httpx
import pytest
from django.test import override_settings

from django_restate.admin_api import AdminAPIError
from django_restate.state import key_ref, state_version
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks

pytestmark = pytest.mark.e2e
INVOCATIONS = "/admin/django_restate/invocation/"


class EditForms(HTMLParser):
    """The state page's edit forms, by key_ref: their hidden fields, textarea (as a browser
    reads it) and selected encoding."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, dict[str, str]] = {}
        self._form: dict[str, str] | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {}
        elif self._form is not None and tag == "input" and a.get("type") == "hidden":
            self._form[a["name"]] = a.get("value", "")
        elif self._form is not None and tag == "textarea":
            self._in, self._form["value"] = "textarea", ""
        elif self._form is not None and tag == "option" and "selected" in a:
            self._form["encoding"] = a["value"]

    def handle_data(self, data: str) -> None:
        if self._in == "textarea" and self._form is not None:
            self._form["value"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._in = None
            if self._form is not None and self._form["value"].startswith("\n"):
                self._form["value"] = self._form["value"][1:]  # what HTML does right after <textarea>
        elif tag == "form" and self._form is not None:
            if self._form.get("operation") in ("edit", "delete"):
                self.forms[f"{self._form['operation']}:{self._form.get('key_ref')}"] = self._form
            self._form = None


def forms_on(notebooks, key: str) -> dict[str, dict[str, str]]:
    response = notebooks.client.get(notebooks.instance_url(key))
    assert response.status_code == 200
    parser = EditForms()
    parser.feed(response.content.decode())
    return parser.forms


def as_browser_sends(form: dict[str, str]) -> dict[str, str]:
    return {**form, "value": form.get("value", "").replace("\r\n", "\n").replace("\n", "\r\n")}


RAW_VALUES = {
    "leading-newline-json": b'\n{"a": 1}',
    "duplicate-keys-and-precision": b'{"a": 1.10000000000000000001, "a": 2, "big": 1e308}',
    "compact-json": b'{"b":[1,2],"a":"\xc3\xa9"}',
    "crlf-text": b"line one\r\nline two\r\n",
    "leading-newline-text": b"\nstarts with a newline",
    "too-big-for-a-float": b"1e400",
    "binary": b"\x00\xff\x10",
}


@pytest.mark.parametrize("name", RAW_VALUES)
def test_saving_a_value_as_shown_leaves_its_bytes_identical(notebooks, name):
    key = notebooks.key("exact")
    raw = RAW_VALUES[name]
    notebooks.write_bytes(key, v=raw, other=b'"x"')
    form = forms_on(notebooks, key)[f"edit:{key_ref('v')}"]
    response = notebooks.client.post(notebooks.instance_url(key), as_browser_sends(form), follow=True)
    assert response.status_code == 200
    assert notebooks.state(key) == {"v": raw, "other": b'"x"'}
    assert any("Nothing to save" in str(m) for m in response.context["messages"])


def test_an_edited_text_keeps_its_line_breaks_and_only_the_edited_key_changes(notebooks):
    key = notebooks.key("lines")
    notebooks.write_bytes(key, crlf=b"a\r\nb", lf=b"a\nb", json=b'{"kept":1.10}')
    forms = forms_on(notebooks, key)
    for name in ("crlf", "lf"):
        form = {**forms[f"edit:{key_ref(name)}"], "encoding": "text"}
        form["value"] += "\nc"
        version = state_version(notebooks.state(key))
        response = notebooks.client.post(notebooks.instance_url(key), {**as_browser_sends(form), "version": version})
        assert response.status_code == 302
    assert notebooks.state(key) == {"crlf": b"a\r\nb\r\nc", "lf": b"a\nb\nc", "json": b'{"kept":1.10}'}


def test_a_number_too_large_for_json_is_a_form_error(notebooks):
    key = notebooks.key("inf")
    notebooks.write(key, n=1)
    form = {**forms_on(notebooks, key)[f"edit:{key_ref('n')}"], "value": '{"x": [1e400]}'}
    response = notebooks.client.post(notebooks.instance_url(key), form)
    assert response.status_code == 200
    assert "too large" in str(response.context["form"].errors["value"])
    assert notebooks.state(key) == {"n": b"1"}


HOSTILE_KEYS = ["new\nline", "cr\rlf\r\n", "nul\x00byte", "k" * 1500, " padded ", "\u2028sep"]


@pytest.mark.parametrize("state_key", HOSTILE_KEYS, ids=["newline", "crlf", "nul", "1500-chars", "spaces", "u2028"])
def test_every_state_key_can_be_edited_and_deleted(notebooks, state_key):
    key = notebooks.key("keys")
    notebooks.write(key, **{state_key: 1, "other": 2})
    forms = forms_on(notebooks, key)
    edit = {**forms[f"edit:{key_ref(state_key)}"], "value": "5", "encoding": "json"}
    saved = notebooks.client.post(notebooks.instance_url(key), as_browser_sends(edit))
    assert saved.status_code == 302, ([str(m) for m in saved.context["messages"]], saved.context["form"].errors)
    assert notebooks.state(key) == {state_key: b"5", "other": b"2"}
    delete = forms_on(notebooks, key)[f"delete:{key_ref(state_key)}"]
    assert notebooks.client.post(notebooks.instance_url(key), delete).status_code == 302
    assert notebooks.state(key) == {"other": b"2"}


def test_an_object_key_over_4096_characters_can_be_viewed_and_cleared(notebooks):
    key = notebooks.key("long") + "x" * 5000
    notebooks.write(urlquote(key, safe=""), note="long")
    listing = notebooks.client.get("/admin/django_restate/state/", {"service": SERVICE, "key_prefix": key[:20]})
    assert [row["service_key"] for row in listing.context["rows"]] == [key]
    page = notebooks.client.get(listing.context["rows"][0]["url"])
    assert page.status_code == 200 and [e.key for e in page.context["entries"]] == ["note"]
    cleared = notebooks.client.post(
        listing.context["rows"][0]["url"], {"operation": "clear", "version": page.context["version"]}
    )
    assert cleared.status_code == 302
    assert notebooks.state(key) == {}


def test_a_service_name_with_a_slash_is_a_page_not_a_500(notebooks):
    response = notebooks.client.get("/admin/django_restate/state/instance/", {"service": "a/b", "key": "k"})
    assert response.status_code == 200
    assert "This instance has no state" in response.content.decode()


def test_bulk_ids_with_slashes_and_dot_segments_get_a_confirmation_and_a_clear_refusal(notebooks):
    ids = ["inv_1/../x", "..", "."]
    confirm = notebooks.client.post(INVOCATIONS + "actions/", {"action": "kill", "_selected_action": ids})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert all(f"<code>{i}</code>" in html for i in ids)
    done = notebooks.client.post(
        INVOCATIONS + "actions/", {"action": "kill", "_selected_action": ids, "confirmed": "yes"}
    )
    assert done.status_code == 200
    results = {r["invocation_id"]: r for r in done.context["results"]}
    assert list(results) == ids and not any(r["ok"] for r in results.values())
    for dotted in ids[1:]:  # sent as %2E%2E / %2E: Restate reads them as ids and refuses them
        assert results[dotted]["message"].startswith("Restate cannot read this invocation id"), results[dotted]
    assert results[ids[0]]["url"] is None and "<code>inv_1/../x</code>" in done.content.decode()


def test_dot_segments_reach_restate_as_names_not_as_other_paths(notebooks):
    """``..`` unencoded is resolved away by httpx (``/invocations/../kill`` is ``/kill``, a 404)."""
    with pytest.raises(AdminAPIError) as caught:
        notebooks.api.invocation_action("..", "kill")
    assert caught.value.status == 400 and "invocation_id" in caught.value.message
    with pytest.raises(AdminAPIError) as missing:
        notebooks.api.service("..")
    assert missing.value.status == 404 and "'..'" in missing.value.message


def test_an_admin_url_with_credentials_never_shows_them(notebooks, caplog):
    down = "http://admin:hunter2@127.0.0.1:9"
    with override_settings(RESTATE={**notebooks.live.settings(), "ADMIN_URL": down, "TIMEOUT": 2}):
        for url in ("/admin/django_restate/state/", "/admin/django_restate/deployment/"):
            response = notebooks.client.get(url)
            assert response.status_code == 200
            assert "http://***@127.0.0.1:9" in response.context["restate_error"]
            assert "hunter2" not in response.content.decode()
        kill = notebooks.client.post(INVOCATIONS + "inv_1aaaaaaaaaaaaaaaaaaaaaa/kill/", follow=True)
        assert "hunter2" not in " ".join(str(m) for m in kill.context["messages"])
    deployment = "http://dep:hunter2@127.0.0.1:9/restate"
    with override_settings(RESTATE={**notebooks.live.settings(), "DEPLOYMENT_URL": deployment, "TIMEOUT": 2}):
        for url in ("/admin/django_restate/deployment/", "/admin/django_restate/deployment/register/"):
            html = notebooks.client.get(url).content.decode()
            assert "http://***@127.0.0.1:9/restate" in html and "hunter2" not in html
        register = notebooks.client.post("/admin/django_restate/deployment/register/", follow=True)
        [message] = [str(m) for m in register.context["messages"]]
        assert "was not registered" in message and "hunter2" not in message
    assert "hunter2" not in caplog.text


def test_an_ingress_url_with_credentials_is_not_printed_by_the_checks():
    from django_restate.checks import check_settings

    with override_settings(RESTATE={"INGRESS_URL": "ftp://user:hunter2@example.com"}):
        problems = check_settings()
    assert problems and all("hunter2" not in str(p) for p in problems)


def test_credential_headers_in_a_journal_are_redacted(notebooks):
    key = notebooks.key("secret")
    headers = {"Authorization": "Bearer hunter2", "Cookie": "sid=s3cr3t", "X-Api-Key": "k3y", "X-Trace": "visible"}
    response = httpx.post(
        f"{notebooks.live.ingress_url}/{SERVICE}/{key}/write", json={"a": 1}, headers=headers, timeout=30
    )
    response.raise_for_status()
    [row] = notebooks.api.query(f"SELECT id FROM sys_invocation WHERE target_service_key = '{key}'")
    page = notebooks.client.get(f"{INVOCATIONS}{row['id']}/")
    html = page.content.decode()
    for secret in ("hunter2", "s3cr3t", "k3y"):
        assert secret not in html
    assert "visible" in html and html.count("redacted") >= 3


def test_a_redacted_header_list_is_configurable(notebooks):
    key = notebooks.key("custom")
    httpx.post(
        f"{notebooks.live.ingress_url}/{SERVICE}/{key}/write", json={"a": 1}, headers={"X-Trace": "t0ken"}, timeout=30
    ).raise_for_status()
    [row] = notebooks.api.query(f"SELECT id FROM sys_invocation WHERE target_service_key = '{key}'")
    with override_settings(RESTATE={**notebooks.live.settings(), "REDACT_HEADERS": ["x-trace"]}):
        html = notebooks.client.get(f"{INVOCATIONS}{row['id']}/").content.decode()
    assert "t0ken" not in html and "redacted" in html


def test_a_huge_payload_is_capped_on_the_journal_page_and_downloadable(notebooks):
    key = notebooks.key("huge")
    big = "x" * 2**20  # its journal entry spells the bytes as numbers: about 5 MB of entry_json
    notebooks.call(key, "write", {"big": big})
    [row] = notebooks.api.query(f"SELECT id FROM sys_invocation WHERE target_service_key = '{key}'")
    page = notebooks.client.get(f"{INVOCATIONS}{row['id']}/")
    assert page.status_code == 200
    assert len(page.content) < 2**18
    html = page.content.decode()
    assert "too large to show" in html
    capped = [e for e in page.context["journal"] if e.truncated]
    assert [e.entry_type for e in capped] == ["Command: Input", "Command: SetState"]
    entry = capped[0]
    full = notebooks.client.get(entry.download_url)
    assert full.status_code == 200 and "attachment" in full["content-disposition"]
    assert big in b"".join(full.streaming_content if full.streaming else [full.content]).decode()


def test_a_huge_state_value_is_capped_on_the_instance_page_and_kept_byte_exact(notebooks):
    key = notebooks.key("hugestate")
    big = b"y" * 2**18  # four times VALUE_CAP
    notebooks.write_bytes(key, big=big, small=b"1")
    page = notebooks.client.get(notebooks.instance_url(key))
    assert page.status_code == 200 and len(page.content) < 2**18
    assert "too large to show" in page.content.decode()
    [capped] = [e for e in page.context["entries"] if e.too_large]
    assert (capped.key, capped.too_large) == ("big", len(big))
    # Its download is the value whole.
    download = notebooks.client.get(capped.download_url)
    assert download.status_code == 200 and download.content == big
    # Editing another key on that page lands and leaves the large value's bytes as they were.
    forms = forms_on(notebooks, key)
    assert f"edit:{key_ref('big')}" not in forms
    edit = {**forms[f"edit:{key_ref('small')}"], "value": "2"}
    assert edit["version"].startswith("sha256:")
    saved = notebooks.client.post(notebooks.instance_url(key), as_browser_sends(edit))
    assert saved.status_code == 302, ([str(m) for m in saved.context["messages"]], saved.context["form"].errors)
    assert notebooks.state(key) == {"big": big, "small": b"2"}
    # A page version from before someone else's change is still a conflict, not an overwrite.
    notebooks.write_bytes(key, small=b"3")
    stale = notebooks.client.post(notebooks.instance_url(key), as_browser_sends({**edit, "value": "4"}))
    assert stale.status_code == 409
    assert notebooks.state(key) == {"big": big, "small": b"3"}

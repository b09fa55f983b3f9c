"""The Restate pages on a project's own AdminSite link within that site, not to the default one."""

from __future__ import annotations

import re

import pytest

from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE

notebooks = fixtures.notebooks

pytestmark = [pytest.mark.e2e, pytest.mark.urls("tests.ops_urls")]


def links(response) -> list[str]:
    return re.findall(r'href="(/[^"]*)"', response.content.decode())


def restate_links(response) -> list[str]:
    return [url for url in links(response) if "/django_restate/" in url]


def test_every_restate_link_stays_on_the_site_that_served_the_page(notebooks):
    key = notebooks.key("ops")
    notebooks.write(key, greeting="hello")
    client = notebooks.client
    pages = [
        "/ops/django_restate/state/",
        f"/ops/django_restate/state/instance/?service={SERVICE}&key={key}",
        f"/ops/django_restate/invocation/?service={SERVICE}&key={key}",
        "/ops/django_restate/registeredservice/",
        "/ops/django_restate/deployment/",
    ]
    listing = client.get(pages[2])
    [row] = listing.context["rows"]
    pages.append(row["url"])
    assert row["url"].startswith("/ops/") and row["instance_url"].startswith("/ops/")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        found = restate_links(response)
        assert found and all(link.startswith("/ops/") for link in found), (url, found)


def test_actions_redirect_within_the_site(notebooks):
    key = notebooks.key("ops-act")
    notebooks.write(key, greeting="hello")
    [row] = notebooks.client.get("/ops/django_restate/invocation/", {"service": SERVICE, "key": key}).context["rows"]
    response = notebooks.client.get(f"/ops/django_restate/invocation/{row['id']}/nonsense/")
    assert response.status_code == 302 and response["Location"].startswith("/ops/")


def test_the_default_site_keeps_its_own_links(notebooks):
    response = notebooks.client.get("/admin/django_restate/state/")
    found = restate_links(response)
    assert found and all(link.startswith("/admin/") for link in found)

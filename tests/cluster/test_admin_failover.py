"""The admin keeps answering through the balancer while a Restate node is down: the page's data,
or the error banner alone, never a 500 and never an empty page that reads as "no data"."""

from __future__ import annotations

import time

import httpx
import pytest
from django.test import override_settings
from django.urls import reverse

from django_restate.testing.topology import LocalTopology

pytestmark = pytest.mark.e2e

PAGES = ["state", "invocation", "registeredservice", "deployment"]


def test_admin_pages_answer_while_a_node_is_down(cluster: LocalTopology, admin_client, run_id: str):
    key = f"{run_id}-admin"
    for _ in range(3):
        assert httpx.post(f"{cluster.ingress_url}/ReliabilityCounter/{key}/add", json=1, timeout=30).status_code == 200
    settings = {
        "ADMIN_URL": cluster.admin_url,
        "INGRESS_URL": cluster.ingress_url,
        "DEPLOYMENT_URL": cluster.deployment_url,
    }
    urls = [reverse(f"admin:django_restate_{page}_changelist") for page in PAGES]
    state_list = reverse("admin:django_restate_state_changelist") + f"?service=ReliabilityCounter&key_prefix={key}"
    answers: dict[str, int] = {"data": 0, "banner": 0}
    with override_settings(RESTATE=settings):
        cluster.cluster.kill(0)
        try:
            until = time.monotonic() + 5  # the window in which queries fail over ("connect throttled")
            while time.monotonic() < until:
                for url in [*urls, state_list]:
                    response = admin_client.get(url)
                    assert response.status_code == 200, (url, response.status_code)
                    page = response.content.decode()
                    banner = "restate-banner" in page
                    answers["banner" if banner else "data"] += 1
                    if url == state_list and not banner:
                        assert key in page, "the state list showed no rows while the object exists"
            deployments = admin_client.get(urls[3]).content.decode()
            assert 'id="restate-cluster"' in deployments and "metadata servers on 3 nodes" in deployments
        finally:
            cluster.cluster.restart(0)
    assert answers["data"] > 0, answers

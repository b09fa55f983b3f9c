"""Fixtures of the cluster suite: three Restate nodes and two Django replicas behind haproxy.

The replicas serve ``tests.reliability_app`` (its counter audits every applied increment) on the
test process's own test database, so the test counts what the replicas wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from django_restate.testing.topology import LocalTopology
from tests.reliability.harness import ROOT, SETTINGS


@pytest.fixture(scope="package")
def topology(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTopology]:
    """The whole topology, started once for the cluster suite and registered through the balancer."""
    from django.db import connection

    env = {
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "RELIABILITY_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(ROOT),
    }
    base_dir = str(tmp_path_factory.mktemp("topology"))
    # Stopped when the suite is done, before pytest-django drops the test database the replicas use.
    with LocalTopology(nodes=3, replicas=2, env=env, cwd=ROOT, base_dir=base_dir) as running:
        running.register()
        yield running


@pytest.fixture
def cluster(topology: LocalTopology, transactional_db: Any) -> LocalTopology:
    """``topology`` with every node and replica up again (a previous test may have killed one),
    and committed test data (``transactional_db``) so the replicas see the same rows."""
    for index, node in enumerate(topology.cluster.nodes):
        if not node.alive:
            topology.cluster.restart(index)
    for replica in topology.replicas:
        if not replica.alive:
            replica.start()
    topology.wait_balanced()
    return topology


@pytest.fixture
def run_id() -> str:
    import uuid

    return uuid.uuid4().hex[:10]

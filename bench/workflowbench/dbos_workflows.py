"""The same workflow on DBOS Transact, in its documented Django setup (``DBOS.launch()`` in
``AppConfig.ready()``, ``@DBOS.workflow`` / ``@DBOS.step``, started from the view)."""

from __future__ import annotations

from dbos import DBOS

from . import steps


@DBOS.step()
def insert_order(order_id: str) -> None:
    steps.insert_order(order_id)


@DBOS.step()
def crunch(order_id: str) -> str:
    return steps.crunch(order_id)


@DBOS.step()
def finish_order(order_id: str, digest: str) -> None:
    steps.finish_order(order_id, digest)


@DBOS.workflow()
def order_workflow(order_id: str) -> str:
    insert_order(order_id)
    digest = crunch(order_id)
    finish_order(order_id, digest)
    return digest

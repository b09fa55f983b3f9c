"""Log records from handler code carry the invocation (id, service, key, handler) and are not
repeated when Restate replays the journal: against a real restate-server over HTTP/1.1, which
re-invokes the handler after every step."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from django_restate.log import InvocationFilter


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(InvocationFilter())  # as LOGGING's "filters": ["restate"] does

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger("tests.interop_app")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_outside_an_invocation_the_fields_are_empty(collected):
    logging.getLogger("tests.interop_app").info("plain")
    [record] = collected.records
    assert (record.restate_invocation_id, record.restate_target) == ("", "")  # type: ignore[attr-defined]


@pytest.mark.e2e
def test_handler_logs_are_tagged_and_not_repeated_on_replay(collected, restate_server, restate_live_server):
    key = f"log-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=restate_server.ingress_url, timeout=30) as ingress:
        answer = ingress.post(f"/LoggingCounter/{key}/bump", json="t1")
        assert answer.status_code == 200 and answer.json() == 3
        invocation_id = ingress.post(f"/LoggingCounter/{key}/bump/send", json="t2").json()["invocationId"]
        done = ingress.get(f"/restate/invocation/{invocation_id}/attach")
        assert done.json() == 3
    mine = [r for r in collected.records if getattr(r, "restate_key", None) == key]
    assert [r.getMessage() for r in mine] == [
        "bump t1 started",
        "bump t1 after the first step",
        "bump t1 done",
        "bump t2 started",
        "bump t2 after the first step",
        "bump t2 done",
    ]
    assert {(r.restate_service, r.restate_handler) for r in mine} == {("LoggingCounter", "bump")}  # type: ignore[attr-defined]
    assert {r.restate_target for r in mine} == {f"LoggingCounter/{key}/bump"}  # type: ignore[attr-defined]
    t2 = {r.restate_invocation_id for r in mine if "t2" in r.getMessage()}  # type: ignore[attr-defined]
    assert t2 == {invocation_id}

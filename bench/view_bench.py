"""A view test with the mock against the same view test end to end, in one run.

    .venv/bin/python -m bench.view_bench            # SQLite; DATABASE_URL=postgres://... for PostgreSQL

The test body is ``tests/test_view_calls.py``'s ``check_call_send_and_send_on_commit``: Django's test
client POSTs to a view that calls a handler, sends to one and sends to another on commit, then
the test waits for both sends and asserts on the rows they wrote. It runs

- with the mock, as ``restate_mock`` runs it: the project's ``client`` routed to a fresh
  ``MockRestate`` per test, inside a transaction rolled back after the test (the ``db`` fixture's
  ``TestCase`` atomic);
- end to end, as ``restate_live`` runs it: restate-server and the project's ASGI app (uvicorn, in a
  thread of this process, as the fixture serves it), registered once, real commits.

Per side: a warm-up, then ``ROUNDS`` rounds of ``TESTS`` tests in alternating order; the time of one
test is the best of them (other processes only ever slow a test down), the median is shown too.
Target: the mock at least 20x faster.

A third row is the floor under both: the same request through the same middleware to a view that
calls the handlers' step functions itself (no client, no mock, no Restate) and the same assertions
on the rows, in the same rolled-back transaction. No mock can make the test faster than that, so
end to end / floor is the ceiling of the ratio the target asks for.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402

from bench.results import table, write_section  # noqa: E402
from django_restate.admin_api import AdminAPI  # noqa: E402
from django_restate.deployments import register  # noqa: E402
from django_restate.testing import mock_restate  # noqa: E402
from django_restate.testing.live import LiveASGIServer  # noqa: E402
from django_restate.testing.server import RestateServer  # noqa: E402
from tests.runtime_app.models import Delivery, Note, Ticket  # noqa: E402
from tests.runtime_app.restate_services import record_delivery, write_note  # noqa: E402
from tests.test_view_calls import check_call_send_and_send_on_commit  # noqa: E402

TESTS = 20
ROUNDS = 3
WARMUP = 3


def mock_test() -> None:
    """One test as pytest-django's ``db`` fixture and ``restate_mock`` run it."""
    atomic = transaction.atomic()
    atomic._from_testcase = True  # what TestCase marks its own atomic blocks with
    atomic.__enter__()
    try:
        with mock_restate():
            check_call_send_and_send_on_commit()
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


# -- the floor: the test's own work, with Restate taken out ------------------------------------------


@require_POST
def floor_view(request: HttpRequest) -> JsonResponse:
    """``write_note``'s work with the handlers' step functions called in place of the client."""
    data = json.loads(request.body)
    written = write_note(key=data["key"], text=data["text"])  # the call's handler
    write_note(key=data["key"], text=data["text"] + " (sent)")  # the send's
    with transaction.atomic():
        ticket = Ticket.objects.create(subject=data["text"])
        transaction.on_commit(lambda: record_delivery(tag=data["tag"], ticket_id=ticket.pk))
    record_delivery(tag=data["tag"], ticket_id=ticket.pk)  # the test's transaction never commits
    return JsonResponse({"count": written.count, "ticket": ticket.pk})


urlpatterns = [path("notes/", floor_view)]


def floor_body() -> None:
    """``check_call_send_and_send_on_commit`` without what only Restate (or the mock) can answer."""
    key, tag = f"notes-{uuid.uuid4().hex[:10]}", f"tag-{uuid.uuid4().hex[:10]}"
    response = Client().post(
        "/notes/", json.dumps({"key": key, "text": "first", "tag": tag}), content_type="application/json",
        headers={"Idempotency-Key": f"request-{uuid.uuid4().hex[:10]}"},
    )  # fmt: skip
    answer = response.json()
    assert response.status_code == 200 and answer["count"] == 1
    assert sorted(Note.objects.filter(key=key).values_list("text", flat=True)) == ["first", "first (sent)"]
    assert Delivery.objects.filter(tag=tag, ticket_id=answer["ticket"]).count() == 1


def floor_test() -> None:
    atomic = transaction.atomic()
    atomic._from_testcase = True
    atomic.__enter__()
    try:
        with override_settings(ROOT_URLCONF="bench.view_bench"):
            floor_body()
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


def timed(test: Callable[[], None], count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        test()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    setup_test_environment()
    load_before = os.getloadavg()[0]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    mock: list[float] = []
    live: list[float] = []
    floor: list[float] = []
    try:
        with override_settings(ROOT_URLCONF="tests.runtime_app.urls"), RestateServer() as server:
            app = import_string(settings.ASGI_APPLICATION)
            with LiveASGIServer(app, "uvicorn") as served:
                with AdminAPI(server.admin_url) as admin:
                    register(admin, served.url + "/restate")
                restate = {
                    **getattr(settings, "RESTATE", {}),
                    "ADMIN_URL": server.admin_url,
                    "INGRESS_URL": server.ingress_url,
                    "DEPLOYMENT_URL": served.url + "/restate",
                }
                with override_settings(RESTATE=restate):
                    timed(mock_test, WARMUP)
                    timed(check_call_send_and_send_on_commit, WARMUP)
                    timed(floor_test, WARMUP)
                    for n in range(ROUNDS):  # alternate, so drift on a shared machine hits every side
                        sides = [(mock_test, mock), (check_call_send_and_send_on_commit, live), (floor_test, floor)]
                        for test, seconds in sides if n % 2 == 0 else reversed(sides):
                            seconds += timed(test, TESTS)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    mock_ms, live_ms = statistics.median(mock) * 1000, statistics.median(live) * 1000
    # Other processes share the machine and only ever slow a test down: the best test of each side is
    # what each costs; the medians say how much the noise moved them.
    ratio, median_ratio = min(live) / min(mock), live_ms / mock_ms
    rows = [
        ["with the mock (`restate_mock`)", f"{min(mock) * 1000:.1f}", f"{mock_ms:.1f}", f"{max(mock) * 1000:.1f}"],
        ["end to end (`restate_live`)", f"{min(live) * 1000:.1f}", f"{live_ms:.1f}", f"{max(live) * 1000:.1f}"],
        ["end to end / mock", f"**{ratio:.0f}x**", f"{median_ratio:.0f}x", ""],
        ["floor: the test's own work, no Restate", f"{min(floor) * 1000:.1f}", f"{statistics.median(floor) * 1000:.1f}",
         f"{max(floor) * 1000:.1f}"],
        ["end to end / floor: the ratio's ceiling", f"**{min(live) / min(floor):.0f}x**",
         f"{live_ms / (statistics.median(floor) * 1000):.0f}x", ""],
    ]  # fmt: skip
    markdown = "\n\n".join(
        [
            f"## A view test with the mock vs end to end (`python -m bench.view_bench`, {connection.vendor})",
            "One test of `tests/test_view_calls.py` (`check_call_send_and_send_on_commit`): Django's test client "
            "POSTs to a view that calls `RuntimeNotebook.write` (a `ctx.run` step writing a row), sends to it and "
            "`send_on_commit`s to `RuntimeMailer.deliver`; the test attaches to both sends and asserts on the rows. "
            "With the mock: the project's `client` routed to a fresh `MockRestate` per test, inside a rolled-back "
            "transaction (as `restate_mock` and the `db` fixture run it). End to end: restate-server and the "
            "project's ASGI app under uvicorn in a thread (as `restate_live` serves it), real commits. "
            f"{ROUNDS} rounds of {TESTS} tests per side, alternating, after {WARMUP} warm-ups; ms per test.",
            table(["run", "best ms", "median ms", "max ms"], rows),
            f"The mock runs the view test **{ratio:.0f}x** faster, best test against best test (target >= 20x: "
            f"{'met' if ratio >= 20 else 'NOT met'}; {median_ratio:.0f}x median against median). The floor is the "
            "same request through the same middleware to a view that calls the handlers' step functions itself, "
            "and the same assertions on the rows, in the same rolled-back transaction: what the test costs with "
            "Restate taken out, below any mock; end to end / floor is the highest ratio any mock could reach. "
            "restate-server, uvicorn and the test share this machine "
            f"({os.cpu_count()} CPUs, load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after).",
        ]
    )
    write_section(f"view_bench_{connection.vendor}", markdown)
    print(markdown)


if __name__ == "__main__":
    main()

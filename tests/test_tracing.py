"""One trace from a Django view to the ORM spans of the handlers it calls (the ``otel`` extra).

Real parts: a restate-server exporting its spans over OTLP gRPC to a receiver running in this
process (:mod:`tests.otlp`), the Django side exporting to the same receiver through the OTLP
gRPC exporter, opentelemetry-instrumentation-django for the view's span and -sqlite3 / -psycopg
for the ORM's. The endpoint is served over HTTP/1.1, where Restate re-invokes a handler after
every step, so each invocation has several attempts and the journal is replayed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk", reason="OpenTelemetry is not installed: pip install django-restate[otel]")
pytest.importorskip("opentelemetry.instrumentation.django", reason="pip install django-restate[otel]")
pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc", reason="pip install django-restate[test]")
pytest.importorskip("grpc", reason="grpcio is needed for the OTLP receiver: pip install django-restate[test]")

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import override_settings  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.django import DjangoInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.util._once import Once  # noqa: E402

from django_restate import tracing  # noqa: E402
from django_restate.admin_api import AdminAPI  # noqa: E402
from django_restate.asgi import RestateEndpoint, RestateRouter  # noqa: E402
from django_restate.client import RestateClient, client  # noqa: E402
from django_restate.deployments import register  # noqa: E402
from django_restate.exceptions import HandlerError  # noqa: E402
from django_restate.models import OutboxMessage  # noqa: E402
from django_restate.outbox import flush  # noqa: E402
from django_restate.outbox.relay import send_now  # noqa: E402
from django_restate.testing.live import LiveASGIServer  # noqa: E402
from django_restate.testing.server import RestateServer, free_port  # noqa: E402
from tests.otlp import Receiver, Span, render  # noqa: E402
from tests.tracing_app.restate_services import TracedStock  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _db_instrumentor() -> object:
    if connections["default"].vendor == "postgresql":
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        return PsycopgInstrumentor()
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    return SQLite3Instrumentor()


@pytest.fixture(scope="module")
def provider(receiver: Receiver, django_db_setup, django_db_blocker) -> Iterator[TracerProvider]:
    """The project's OpenTelemetry setup, as docs/tracing.md writes it, for this module only."""
    provider = TracerProvider(resource=Resource.create({"service.name": "django"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True), schedule_delay_millis=200)
    )
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    database = _db_instrumentor()
    database.instrument()  # type: ignore[attr-defined]
    with django_db_blocker.unblock():
        connections.close_all()  # connections made from now on are traced
    try:
        yield provider
    finally:
        database.uninstrument()  # type: ignore[attr-defined]
        DjangoInstrumentor().uninstrument()
        with django_db_blocker.unblock():
            connections.close_all()
        provider.shutdown()
        # What opentelemetry-test-utils' reset_trace_globals() does: the rest of the suite runs untraced.
        trace._TRACER_PROVIDER_SET_ONCE = Once()
        trace._TRACER_PROVIDER = None


@pytest.fixture(scope="module")
def traced_server(receiver: Receiver) -> Iterator[RestateServer]:
    with RestateServer(env={"RESTATE_TRACING_ENDPOINT": receiver.endpoint}) as server:
        yield server


@pytest.fixture(scope="module")
def project(provider, traced_server: RestateServer) -> Iterator[LiveASGIServer]:
    """The project served by uvicorn (HTTP/1.1), tracing on, registered with the traced server."""
    restate = {
        **settings.RESTATE,
        "TRACING": True,
        "ADMIN_URL": traced_server.admin_url,
        "INGRESS_URL": traced_server.ingress_url,
    }
    with override_settings(RESTATE=restate, ROOT_URLCONF="tests.tracing_app.urls"):
        # Built now, after DjangoInstrumentor added its middleware and with TRACING on.
        app = RestateRouter(ASGIHandler(), RestateEndpoint())
        with LiveASGIServer(app, "uvicorn") as live:
            with AdminAPI(traced_server.admin_url) as admin:
                register(admin, live.url + "/restate")
            yield live


def _flush(provider: TracerProvider) -> None:
    assert provider.force_flush(10_000)


def _attempts(spans: list[Span], target: str) -> list[Span]:
    return [s for s in spans if s.resource == "django" and s.attributes.get("restate.invocation.target") == target]


def _statement(span: Span) -> str:
    return str(span.attributes.get("db.statement") or span.attributes.get("db.query.text") or "")


def _orm(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.parent_id == parent.span_id and _statement(s)]


def _chain(spans: list[Span], leaf: Span) -> list[Span]:
    """``leaf`` and its ancestors up to the trace's root; fails on a parent that is not in the trace."""
    by_id = {s.span_id: s for s in spans}
    chain = [leaf]
    while chain[-1].parent_id:
        parent = by_id.get(chain[-1].parent_id)
        assert parent is not None, f"{chain[-1].name} has a parent that is not in the trace:\n{render(spans)}"
        chain.append(parent)
    return chain


def _show(span: Span) -> str:
    """A span as docs/tracing.md shows it: its name, who exported it, and the SQL of an ORM span."""
    sql = _statement(span)
    label = f"{span.name}: {textwrap.shorten(sql, 60)}" if sql else span.name
    millis = (span.end - span.start) / 1e6
    return f"{label}  [{span.resource}, {span.kind.lower()}, {millis:.1f} ms]"


@pytest.fixture(scope="module")
def traces() -> dict[str, tuple[str, list[Span]]]:
    """What the module's tests traced, made once for all of them."""
    return {}


@pytest.fixture
def ordered(project, provider, receiver, traces, transactional_db) -> tuple[str, list[Span]]:
    """A view that calls TracedShop.order, which calls TracedStock.reserve: its key and its whole trace."""
    if "order" not in traces:
        traces["order"] = _order(project, provider, receiver)
    return traces["order"]


def _order(project: LiveASGIServer, provider: TracerProvider, receiver: Receiver) -> tuple[str, list[Span]]:
    key = f"trace-{uuid.uuid4().hex[:8]}"
    answer = httpx.post(project.url + "/order/", json={"key": key}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"count": 2}  # the order's note and the reservation's
    _flush(provider)
    inner = f"TracedStock/{key}/reserve"
    trace_id = _attempts(receiver.wait_for(lambda spans: bool(_attempts(spans, inner))), inner)[0].trace_id

    def complete(spans: list[Span]) -> bool:
        names = {s.name for s in spans}
        return {"invocation-end TracedShop/order", "invocation-end TracedStock/{key}/reserve"} <= names

    spans = receiver.wait_for(complete, trace_id)
    print(render(spans, _show))  # the picture in docs/tracing.md (pytest -s shows it)
    return key, spans


def test_one_trace_from_the_view_to_the_innermost_orm_span(ordered):
    key, spans = ordered
    tree = render(spans, _show)
    [stock_attempt, *_] = _attempts(spans, f"TracedStock/{key}/reserve")
    # The innermost ORM span: the INSERT of the atomic_step in TracedStock.reserve.
    [insert] = [s for s in _orm(spans, stock_attempt) if _statement(s).startswith("INSERT")]
    chain = _chain(spans, insert)
    assert [(s.resource, s.name) for s in chain[:-1]] == [
        ("django", insert.name),
        ("django", "TracedStock/reserve"),
        ("Restate", "invocation-attempt TracedStock/{key}/reserve"),
        ("Restate", "invocation-start TracedStock/{key}/reserve"),
        ("Restate", "invocation-attempt TracedShop/order"),
        ("Restate", "invocation-start TracedShop/order"),
        ("Restate", "ingress TracedShop/order"),
    ], tree
    view = chain[-1]
    assert (view.resource, view.kind, view.attributes.get("http.route")) == ("django", "SERVER", "order/"), tree
    assert view.parent_id == ""  # the trace starts at the view
    ids = {s.span_id for s in spans}
    assert all(s.parent_id in ids for s in spans if s is not view), tree

    # Each of our attempt spans is the child of the Restate attempt whose traceparent it was given.
    for target in ("TracedShop/order", f"TracedStock/{key}/reserve"):
        for attempt in _attempts(spans, target):
            restate_parent = next(s for s in spans if s.span_id == attempt.parent_id)
            assert restate_parent.name.startswith("invocation-attempt "), tree
            assert attempt.kind == "SERVER" and attempt.attributes["restate.invocation.id"].startswith("inv_")


def test_a_replay_does_not_duplicate_spans(ordered):
    """Over HTTP/1.1 Restate re-invokes the handler after each step: every later attempt replays
    the journal, running the handler's body again (its async ORM check too) up to where it left off."""
    key, spans = ordered
    tree = render(spans, _show)
    shop = sorted(_attempts(spans, "TracedShop/order"), key=lambda s: s.start)
    restate_attempts = [s for s in spans if s.name == "invocation-attempt TracedShop/order"]
    assert len(shop) >= 2 and len(shop) == len(restate_attempts), tree  # one span per attempt, and replays
    assert [s.attributes["restate.replaying"] for s in shop] == [False] + [True] * (len(shop) - 1), tree
    assert len({s.parent_id for s in shop}) == len(shop), tree

    # The body's check ran on every attempt, yet is traced once: on the attempt that ran it for real.
    checks = [s for s in spans if _statement(s).startswith("SELECT") and "LIMIT 1" in _statement(s)]
    assert [c.parent_id for c in checks] == [shop[0].span_id], tree
    # Each step ran once, so its INSERT is in the trace once.
    inserts = [s for s in spans if _statement(s).startswith("INSERT")]
    assert len(inserts) == 2, tree


def test_a_send_delivered_later_by_the_relay_continues_the_views_trace(
    project, provider, receiver, traced_server, transactional_db
):
    """Restate is unreachable when the view's transaction commits; the outbox row is delivered
    later, outside any span, and Restate's spans still join the view's trace."""
    key = f"later-{uuid.uuid4().hex[:8]}"
    down = {**settings.RESTATE, "INGRESS_URL": f"http://127.0.0.1:{free_port()}"}
    with override_settings(RESTATE=down):
        answer = httpx.post(project.url + "/order-later/", json={"key": key}, timeout=30)
        assert answer.status_code == 200, answer.text
        flush()  # the commit's failed send is written down
    row = OutboxMessage.objects.get(pk=answer.json()["message_id"])
    assert row.status == OutboxMessage.Status.PENDING, row.last_error
    traceparent = row.headers["traceparent"]
    _, trace_id, view_span_id, flags = traceparent.split("-")
    assert flags == "01"

    assert not trace.get_current_span().get_span_context().is_valid  # this delivery is in no span
    OutboxMessage.objects.filter(pk=row.pk).update(claimed_until=None)
    assert send_now(OutboxMessage.objects.filter(pk=row.pk)) == {"delivered": 1, "failed": 0, "retry": 0, "down": 0}
    _flush(provider)

    ended = "invocation-end TracedStock/{key}/reserve"
    spans = receiver.wait_for(lambda spans: ended in {s.name for s in spans}, trace_id)
    tree = render(spans, _show)
    assert _attempts(spans, f"TracedStock/{key}/reserve"), tree
    view = next(s for s in spans if s.span_id == view_span_id)
    assert (view.resource, view.attributes.get("http.route")) == ("django", "order-later/"), tree
    [ingress] = [s for s in spans if s.resource == "Restate" and s.parent_id == view.span_id]
    assert ingress.name == "ingress TracedStock/{key}/reserve", tree
    assert ingress.parent_id == view.span_id, tree
    assert ingress.start > view.end, tree  # delivered after the view had answered


def test_a_terminal_error_marks_the_attempt_span(project, provider, receiver, transactional_db):
    key = f"refuse-{uuid.uuid4().hex[:8]}"
    with trace.get_tracer("tests").start_as_current_span("caller") as caller, pytest.raises(HandlerError):
        client.object(TracedStock, key).refuse("sold out")
    _flush(provider)
    trace_id = f"{caller.get_span_context().trace_id:032x}"
    ended = "invocation-end TracedStock/{key}/refuse"
    spans = receiver.wait_for(lambda spans: ended in {s.name for s in spans}, trace_id)
    [attempt] = _attempts(spans, f"TracedStock/{key}/refuse")  # terminal: not retried
    assert attempt.error, render(spans, _show)


@pytest.fixture(scope="module")
def untraced_server(project) -> Iterator[RestateServer]:
    """A restate-server that exports no traces (no RESTATE_TRACING_ENDPOINT), serving the same project."""
    with RestateServer() as server:
        with AdminAPI(server.admin_url) as admin:
            register(admin, project.url + "/restate")
        yield server


def test_without_restate_tracing_attempts_continue_the_callers_trace(
    untraced_server, provider, receiver, transactional_db
):
    """Such a server sends the endpoint no trace context of its own: the attempts then hang under
    the span that started the invocation (the traceparent it was sent to the ingress with)."""
    key = f"untraced-{uuid.uuid4().hex[:8]}"
    restate = {**settings.RESTATE, "INGRESS_URL": untraced_server.ingress_url}
    with override_settings(RESTATE=restate), trace.get_tracer("tests").start_as_current_span("caller") as caller:
        assert client.object(TracedStock, key).reserve("one") == 1
    _flush(provider)
    context = caller.get_span_context()
    caller_id = f"{context.span_id:016x}"
    target = f"TracedStock/{key}/reserve"

    def arrived(spans: list[Span]) -> bool:
        return any(s.span_id == caller_id for s in spans) and bool(_attempts(spans, target))

    spans = receiver.wait_for(arrived, f"{context.trace_id:032x}")
    tree = render(spans, _show)
    attempts = _attempts(spans, target)
    assert {s.parent_id for s in attempts} == {caller_id}, tree
    assert [s for a in attempts for s in _orm(spans, a) if _statement(s).startswith("INSERT")], tree
    assert not [s for s in spans if s.resource == "Restate"], tree  # that server exported nothing


# -- the client's headers, without a server ---------------------------------------------------------


def _sent_headers(**client_kwargs: object) -> httpx.Headers:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=1)

    restate = RestateClient("http://ingress.test", transport=httpx.MockTransport(answer))
    from tests.runtime_app.restate_services import RuntimeNotebook

    restate.object(RuntimeNotebook, "k").count(**client_kwargs)
    return seen[0].headers


@pytest.fixture
def span(provider) -> Iterator[trace.Span]:
    with trace.get_tracer("tests").start_as_current_span("view") as current:
        yield current


def test_calls_carry_the_current_span_as_restate_reads_it(span, settings):
    settings.RESTATE = {**settings.RESTATE, "TRACING": None}  # the default: on, a tracer provider is set
    context = span.get_span_context()
    assert context.trace_flags == 0x03  # sampled and random, as the SDK makes them
    assert _sent_headers()["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


def test_a_traceparent_the_caller_passes_wins(span):
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert _sent_headers(headers={"TraceParent": theirs})["traceparent"] == theirs


def test_no_trace_headers_outside_a_span_or_with_tracing_off(provider, settings):
    assert "traceparent" not in _sent_headers()
    settings.RESTATE = {**settings.RESTATE, "TRACING": False}
    with trace.get_tracer("tests").start_as_current_span("view"):
        assert "traceparent" not in _sent_headers()
    assert not tracing.enabled()


def test_without_opentelemetry_the_package_works_and_traces_nothing():
    """As if the otel extra were not installed: opentelemetry cannot be imported at all."""
    script = textwrap.dedent(
        """
        import json, sys
        class NoOpenTelemetry:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError(f"No module named {name!r}")
        sys.meta_path.insert(0, NoOpenTelemetry())
        import django
        django.setup()
        import httpx
        from django.test import override_settings
        from django_restate import tracing
        from django_restate.client import RestateClient
        from django_restate.runtime import invocation_context_managers
        from tests.runtime_app.restate_services import RuntimeNotebook
        seen = []
        def answer(request):
            seen.append(dict(request.headers))
            return httpx.Response(200, json=1)
        client = RestateClient("http://ingress.test", transport=httpx.MockTransport(answer))
        with override_settings(RESTATE={"TRACING": True}):
            assert client.object(RuntimeNotebook, "k").count() == 1
            managers = [m.__name__ for m in invocation_context_managers()]
            print(json.dumps([tracing.available(), tracing.enabled(), "traceparent" in seen[0], managers]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    assert done.returncode == 0, done.stderr
    available, enabled, sent, managers = json.loads(done.stdout.strip().splitlines()[-1])
    assert (available, enabled, sent) == (False, False, False)
    assert managers == ["counted_attempt", "django_connections", "invocation_signals"]

"""OpenTelemetry: one trace from a Django view, through Restate, into the handler and its steps.

Installed with the ``otel`` extra (``pip install django-restate[otel]``); without
OpenTelemetry every function here is a no-op and nothing is imported.

Two halves, both switched by ``RESTATE["TRACING"]`` (:func:`enabled`):

- **The client** (:func:`inject`): ingress calls and sends carry the W3C ``traceparent`` /
  ``tracestate`` of the span that is current when they are made (a view's span from
  opentelemetry-instrumentation-django, or your own). ``send_on_commit`` stores them in the
  outbox row, so a relay that delivers it minutes later continues the same trace. A header
  the caller passes itself is left as it is.
- **The endpoint** (:func:`invocation_span`): every attempt Restate makes at an invocation
  runs inside a ``SERVER`` span named ``Service/handler``, the child of the attempt span
  Restate sends in the ``traceparent`` of its request. Everything the handler does is under
  it: the ORM spans of ``ctx.run`` / ``atomic_step`` steps (opentelemetry-instrumentation-
  sqlite3 / -psycopg / -dbapi), the async ORM, outgoing HTTP. While Restate replays the
  journal (the handler runs again over steps it already took) that span reads as not
  sampled, so the spans of the replayed code are dropped by the usual ``ParentBased``
  sampler and each step's spans appear once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from restate.exceptions import SuspendedException
from restate.server_context import current_context, restate_context_is_replaying

from .conf import restate_settings

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

INSTRUMENTATION_NAME = "django_restate"


def available() -> bool:
    """Whether OpenTelemetry's API can be imported (the ``otel`` extra, or opentelemetry-api)."""
    return trace is not None


def enabled() -> bool:
    """Whether this project traces: ``RESTATE["TRACING"]``, or when it is ``None`` (the default),
    whether OpenTelemetry is installed and a tracer provider has been set
    (``trace.set_tracer_provider(...)``, or ``opentelemetry-instrument``)."""
    setting = restate_settings.TRACING
    if setting is not None:
        return bool(setting) and available()
    return available() and _provider_is_set()


def _provider_is_set() -> bool:
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


# -- the client: trace context into ingress requests -----------------------------------------------


def inject(headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """``headers`` with the current span's ``traceparent`` / ``tracestate`` added, when a span is
    current and ``headers`` has no ``traceparent`` of its own (the caller's wins); else ``headers``."""
    if trace is None:
        return headers
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return headers
    if headers and any(name.lower() == "traceparent" for name in headers):
        return headers
    if not enabled():
        return headers
    return {**(headers or {}), **trace_headers(span_context)}


def trace_headers(span_context: SpanContext) -> dict[str, str]:
    """W3C trace context headers for ``span_context``, as Restate accepts them.

    Only the *sampled* bit of the trace flags is sent. OpenTelemetry's Python SDK also sets the
    W3C *random* bit (flags ``03``), and restate-server (checked with 1.7.12) does not accept
    such a ``traceparent``: its ingress span starts a new trace instead, silently.
    """
    flags = span_context.trace_flags & TraceFlags.SAMPLED
    headers = {"traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}"}
    if span_context.trace_state:
        headers["tracestate"] = span_context.trace_state.to_header()
    return headers


# -- the endpoint: a span per attempt, parented on Restate's ------------------------------------------


@asynccontextmanager
async def invocation_span() -> AsyncIterator[None]:
    """The span of one attempt at the current invocation (an invocation context manager of the
    endpoint, see :func:`django_restate.runtime.invocation_context_managers`)."""
    ctx: Any = current_context()
    service, handler = ctx.handler.service_tag.name, ctx.handler.name
    key = ctx.invocation.key
    parent = _propagator.extract(_trace_carrier(ctx))
    attributes = {
        "rpc.system": "restate",
        "rpc.service": service,
        "rpc.method": handler,
        "restate.invocation.id": ctx.invocation.invocation_id,
        "restate.invocation.target": "/".join(part for part in (service, key, handler) if part),
        "restate.replaying": bool(restate_context_is_replaying.get()),
    }
    span = _tracer.start_span(f"{service}/{handler}", parent, SpanKind.SERVER, attributes)
    token = otel_context.attach(trace.set_span_in_context(ReplayAwareSpan(span), parent))
    try:
        yield
    except SuspendedException:
        span.set_attribute("restate.suspended", True)
        raise
    except BaseException as exc:  # TerminalError ends the invocation, anything else is retried
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        otel_context.detach(token)
        span.end()


def _trace_carrier(ctx: Any) -> Mapping[str, str]:
    """Where the trace context of an attempt is: the ``traceparent`` of Restate's attempt span,
    which restate-server sends when it exports traces (``RESTATE_TRACING_ENDPOINT``); without
    one it sends none, and the attempt continues the trace its invocation was started in (the
    ``traceparent`` the caller sent to the ingress), so the view's span still leads to it."""
    headers: Mapping[str, str] = ctx.attempt_headers
    if "traceparent" in headers:
        return headers
    return dict(ctx.invocation.headers)


if trace is not None:
    _propagator = TraceContextTextMapPropagator()
    _tracer = trace.get_tracer(INSTRUMENTATION_NAME)
    _NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)

    class ReplayAwareSpan(trace.Span):
        """The attempt's span as its children see it: not sampled while Restate replays the
        journal, so what the handler does again on a replay is not recorded twice. Its own
        recording is untouched: everything else goes to the real span."""

        def __init__(self, span: trace.Span) -> None:
            self._span = span

        def get_span_context(self) -> SpanContext:
            real = self._span.get_span_context()
            if not restate_context_is_replaying.get():
                return real
            return SpanContext(real.trace_id, real.span_id, real.is_remote, _NOT_SAMPLED, real.trace_state)

        def end(self, end_time: int | None = None) -> None:
            self._span.end(end_time)

        def set_attributes(self, attributes: Mapping[str, Any]) -> None:
            self._span.set_attributes(attributes)

        def set_attribute(self, key: str, value: Any) -> None:
            self._span.set_attribute(key, value)

        def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
            self._span.add_event(name, attributes, timestamp)

        def add_link(self, context: SpanContext, attributes: Any = None) -> None:
            self._span.add_link(context, attributes)

        def update_name(self, name: str) -> None:
            self._span.update_name(name)

        def is_recording(self) -> bool:
            return self._span.is_recording()

        def set_status(self, status: Any, description: str | None = None) -> None:
            self._span.set_status(status, description)

        def record_exception(
            self, exception: BaseException, attributes: Any = None, timestamp: int | None = None, escaped: bool = False
        ) -> None:
            self._span.record_exception(exception, attributes, timestamp, escaped)

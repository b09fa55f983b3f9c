"""An OTLP/gRPC trace receiver in the test process, and the span tree it collected, as text.

restate-server exports its spans over OTLP gRPC (``RESTATE_TRACING_ENDPOINT``); so does the Django
side here (opentelemetry-exporter-otlp-proto-grpc). The receiver decodes what arrives with the
OpenTelemetry protobuf package, as a collector would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from django_restate.testing.server import free_port

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


@dataclass(frozen=True)
class Span:
    """One received span, decoded."""

    resource: str  # the exporter's service.name: "Restate" for the server's spans
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    name: str
    kind: str
    start: int  # ns since the epoch
    end: int
    attributes: dict[str, Any] = field(hash=False)
    error: bool = False


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Collects every span exported to ``endpoint`` (``http://127.0.0.1:<port>``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method's name
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        Span(
                            resource=str(resource.get("service.name", "")),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=KINDS.get(span.kind, str(span.kind)),
                            start=span.start_time_unix_nano,
                            end=span.end_time_unix_nano,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            error=span.status.code == 2,
                        )
                    )
        with self._lock:
            self.spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()

    def trace(self, trace_id: str | None) -> list[Span]:
        """The spans of one trace (of all, for None) received so far."""
        with self._lock:
            return [s for s in self.spans if trace_id is None or s.trace_id == trace_id]

    def wait_for(
        self, found: Callable[[list[Span]], bool], trace_id: str | None = None, timeout: float = 30.0
    ) -> list[Span]:
        """The spans of ``trace_id`` (all, for None) once ``found`` holds for them (Restate exports in
        batches, every few seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.trace(trace_id)
            if found(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"trace {trace_id} incomplete after {timeout}s:\n{render(spans)}")
            time.sleep(0.2)

    def __enter__(self) -> Receiver:
        self._server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.stop(0)


def render(spans: Iterable[Span], show: Callable[[Span], str] | None = None) -> str:
    """The spans as an indented tree, children in start order: what docs/tracing.md shows."""
    spans = sorted(spans, key=lambda s: s.start)
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in ids else "", []).append(span)
    show = show or (lambda s: f"{s.name}  [{s.resource}, {s.kind.lower()}]")
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in children.get(parent, []):
            lines.append("    " * depth + show(span))
            walk(span.span_id, depth + 1)

    walk("", 0)
    return "\n".join(lines)

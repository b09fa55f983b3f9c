"""The ASGI application of one ``bench.tracing_bench`` variant, chosen by ``BENCH_TRACING``:

- ``off``: OpenTelemetry installed, no tracer provider set (``RESTATE["TRACING"]`` None: off);
- ``on``: a tracer provider set, as an instrumented project has it (TRACING None: on), its spans
  batched to an exporter that drops them, so what is measured is the tracing, not a backend;
- ``absent``: ``opentelemetry`` cannot be imported, as without the ``otel`` extra.
"""

import os
import sys
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.tracing_settings")
MODE = os.environ.get("BENCH_TRACING", "off")


class _NoOpenTelemetry:
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"No module named {name!r} (bench.tracing_asgi: BENCH_TRACING=absent)")


if MODE == "absent":
    sys.meta_path.insert(0, _NoOpenTelemetry())
elif MODE == "on":
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        """Drops the spans; counts them in ``BENCH_SPANS_FILE``, so the benchmark can show they were made."""

        count = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            Discard.count += len(spans)
            if os.environ.get("BENCH_SPANS_FILE"):
                with open(os.environ["BENCH_SPANS_FILE"], "w") as out:
                    out.write(str(Discard.count))
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)

from django_restate.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

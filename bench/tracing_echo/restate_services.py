"""The endpoint benchmark's echo handler once per variant of bench/tracing_bench.py (each process
serves its own, RESTATE["SERVICES"]): Restate routes a service name to one deployment only."""

from bench.echo.restate_services import DjangoEcho


class EchoTracingOff(DjangoEcho):
    pass


class EchoTracingOn(DjangoEcho):
    pass


class EchoWithoutOpenTelemetry(DjangoEcho):
    pass


class EchoTracingOffControl(DjangoEcho):
    pass

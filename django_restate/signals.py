"""Signals sent around every invocation attempt this project serves, for logging and metrics.

Like Django's ``request_started`` / ``request_finished``, they fire once per
*attempt*: Restate may run a handler several times for one invocation (a
retry after an error, a resume after a suspension, which replays the journal).

Every signal's ``sender`` is the handler class (``None`` for a service that is
not in the registry), and every signal has these arguments:

``service``, ``handler``
    The Restate names of the service and handler.
``key``
    The Virtual Object key or workflow id (``""`` for a Service).
``invocation_id``
    Restate's id of the invocation, the same on every attempt.
``replaying``
    ``True`` when the attempt starts by replaying a journal (a retry or a resume).

``invocation_finished`` adds ``duration`` (seconds) and ``suspended``: ``True``
when the attempt paused, waiting for something (a timer, a promise, another
invocation) and Restate will resume it later; ``False`` when the handler
returned. ``invocation_failed`` adds ``duration``, ``exception`` and
``terminal``: ``True`` for a ``TerminalError`` (the invocation ends with it),
``False`` for any other exception (Restate retries the attempt).

Receivers may be sync or async. Nothing is built or sent when no receiver is
connected, and a receiver that raises is logged, never allowed to fail the
invocation::

    from django.dispatch import receiver
    from django_restate.signals import invocation_failed

    @receiver(invocation_failed)
    def count_failures(sender, service, handler, terminal, **kwargs):
        metrics.increment("restate.failed", tags={"handler": f"{service}/{handler}", "terminal": terminal})
"""

from __future__ import annotations

from django.dispatch import Signal

invocation_started = Signal()
invocation_finished = Signal()
invocation_failed = Signal()

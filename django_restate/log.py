"""Log records from handler code, tagged with the invocation they belong to, once per invocation.

Add the filter to a handler in ``LOGGING``::

    LOGGING = {
        "version": 1,
        "filters": {"restate": {"()": "django_restate.log.InvocationFilter"}},
        "formatters": {
            "plain": {"format": "%(levelname)s %(restate_target)s %(restate_invocation_id)s %(message)s"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["restate"], "formatter": "plain"}},
        "root": {"handlers": ["console"], "level": "INFO"},
    }

Every record passing through it gets ``restate_invocation_id``, ``restate_service``,
``restate_key``, ``restate_handler`` and ``restate_target`` (``Cart/alice/add_item``); they are
empty strings outside an invocation, so one format works for every record. A record emitted
while Restate replays the journal (the handler running again over steps it already took, after
a suspension or a retry) is dropped, so each line appears once per invocation.
"""

from __future__ import annotations

import logging
from typing import Any

from restate.server_context import current_context, restate_context_is_replaying

FIELDS = ("restate_invocation_id", "restate_service", "restate_key", "restate_handler", "restate_target")


class InvocationFilter(logging.Filter):
    """Adds the current invocation's id, service, key, handler and target to each record, and
    drops records emitted while the invocation replays its journal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not super().filter(record):
            return False
        context = current_invocation()
        if context is None:
            for name in FIELDS:
                if not hasattr(record, name):
                    setattr(record, name, "")
            return True
        if restate_context_is_replaying.get():
            return False
        service = context.handler.service_tag.name
        key = context.invocation.key or ""
        handler = context.handler.name
        record.restate_invocation_id = context.invocation.invocation_id
        record.restate_service = service
        record.restate_key = key
        record.restate_handler = handler
        record.restate_target = "/".join(part for part in (service, key, handler) if part)
        return True


def current_invocation() -> Any:
    """The SDK context of the invocation this code runs in (its handler, or a ``ctx.run`` action in
    the thread the SDK copied its context variables into); ``None`` outside any."""
    try:
        return current_context()
    except LookupError:  # outside any invocation
        return None

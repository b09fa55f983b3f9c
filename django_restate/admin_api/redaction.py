"""Credentials out of what the admin shows: HTTP headers recorded in a journal.

Restate journals the headers an invocation arrived with (``Authorization``, ``Cookie``, API
keys, the client's own ``RESTATE["INGRESS_HEADERS"]``). Anyone with ``view_invocation`` may
read a journal, so header values whose name matches ``RESTATE["REDACT_HEADERS"]`` (names or
``fnmatch`` patterns, case-insensitive), or that this project itself sends, are replaced by
:data:`REDACTED` before a page ever sees them.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from ..conf import restate_settings

#: What a redacted header value reads as: that there was one, not what it was.
REDACTED = "[redacted]"


def secret_names() -> tuple[str, ...]:
    """Lower-case patterns of the header names whose values are never shown."""
    conf = restate_settings.as_dict()
    own = (*conf["INGRESS_HEADERS"], *conf["ADMIN_HEADERS"], *conf["DEPLOYMENT_HEADERS"])
    return tuple(str(name).lower() for name in (*conf["REDACT_HEADERS"], *own))


def is_secret(name: str, patterns: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in patterns)


def redact_headers(value: Any, patterns: tuple[str, ...]) -> Any:
    """``value`` with every ``headers`` list (``[{"name", "value"}]``) or mapping inside it redacted."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "headers":
                item = _redacted(item, patterns)
            out[key] = redact_headers(item, patterns)
        return out
    if isinstance(value, list):
        return [redact_headers(item, patterns) for item in value]
    return value


def _redacted(headers: Any, patterns: tuple[str, ...]) -> Any:
    if isinstance(headers, list):
        return [
            {**h, "value": REDACTED} if isinstance(h, dict) and is_secret(str(h.get("name", "")), patterns) else h
            for h in headers
        ]
    if isinstance(headers, dict):
        return {k: REDACTED if is_secret(str(k), patterns) else v for k, v in headers.items()}
    return headers


def redact_entry_json(entry_json: str | None) -> str | None:
    """A journal entry's ``entry_json`` with its recorded header values redacted."""
    if not entry_json or '"headers"' not in entry_json:
        return entry_json
    try:
        entry = json.loads(entry_json)
    except ValueError:
        return entry_json
    return json.dumps(redact_headers(entry, secret_names()), ensure_ascii=False)

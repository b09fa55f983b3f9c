"""An invocation's journal as a timeline people can read.

``sys_journal.entry_json`` spells payloads as arrays of byte values; those are
decoded through :func:`django_restate.state.decode_value`, the one decoder of
Restate bytes, so a stored ``{"apple": 2}`` reads as JSON and not as numbers.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..admin_api.queries import parse_time
from ..state import decode_value, pretty_json

#: Keys under which entry_json carries bytes (inputs, outputs, state values, results).
LONG_DETAILS = 12
BYTE_FIELDS = frozenset({"payload", "value", "Success", "parameter", "result", "body", "output"})


@dataclass(frozen=True)
class TimelineEntry:
    index: int
    entry_type: str  # e.g. "Command: Run", "Notification: Sleep"
    name: str
    appended_at: datetime.datetime | None
    completed: bool | None
    invoked_id: str | None
    invoked_target: str | None
    sleep_wakeup_at: datetime.datetime | None
    promise_name: str | None
    details: str
    #: The entry's fields, bytes decoded (what ``details`` shows), for pairing commands with completions.
    fields: Any = None
    #: The entry was too large to fetch for the page; ``download_url`` serves it whole.
    truncated: bool = False
    download_url: str | None = None

    @property
    def is_command(self) -> bool:
        return self.entry_type.startswith("Command")

    @property
    def is_long(self) -> bool:
        """Long details (an input's headers, a big payload) start folded."""
        return self.details.count("\n") >= LONG_DETAILS

    @property
    def summary(self) -> str:
        """One line to show while the details are folded: the payload, if there is one."""
        first = next((line.strip() for line in self.details.splitlines() if '"payload"' in line), "")
        lines = f"{self.details.count(chr(10)) + 1} lines"
        return f"{first[:100]} … ({lines})" if first else lines


def timeline(
    rows: Iterable[Mapping[str, Any]], download_url: Callable[[int], str | None] | None = None
) -> list[TimelineEntry]:
    """Readable entries; ``download_url(index)`` links those the reader left on the server as too large."""
    entries = []
    for row in rows:
        fields = parse_entry(row.get("entry_json"))
        size = row.get("entry_json_length")
        truncated = row.get("entry_json") is None and isinstance(size, int) and size > 0
        index = int(row.get("index", 0))
        entries.append(
            TimelineEntry(
                index=index,
                entry_type=str(row.get("entry_type", "")),
                name=str(row.get("name") or ""),
                appended_at=parse_time(row.get("appended_at")),
                completed=row.get("completed"),
                invoked_id=row.get("invoked_id"),
                invoked_target=row.get("invoked_target"),
                sleep_wakeup_at=parse_time(row.get("sleep_wakeup_at")) or wake_up_time(fields),
                promise_name=row.get("promise_name"),
                details=f"This entry is too large to show ({size:,} characters)." if truncated else readable(fields),
                truncated=truncated,
                download_url=download_url(index) if truncated and download_url else None,
                fields=fields,
            )
        )
    return entries


#: Entries whose JSON fits on a line this long are shown on one line (and cost a C-speed dump).
ONE_LINE = 100


def readable(fields: Any) -> str:
    if fields in ({}, None, ""):
        return ""
    if isinstance(fields, str):
        return fields
    # Most entries are small ({"completion_id": 1, "name": "charge"}): one line reads best, and
    # json.dumps without indent runs in C, which a 1,000-entry journal page needs.
    compact = json.dumps(fields, ensure_ascii=False)
    if len(compact) <= ONE_LINE:
        try:
            compact.encode("utf-8")
            return compact
        except UnicodeEncodeError:
            pass
    return pretty_json(fields)


def parse_entry(entry_json: object) -> Any:
    """The entry's fields, bytes decoded, without the ``{"Command": {"Run": ...}}`` wrapping."""
    if not isinstance(entry_json, str) or not entry_json:
        return None
    try:
        entry = json.loads(entry_json)
    except ValueError:
        return entry_json
    fields = _unwrap(_decode_bytes(entry))
    if isinstance(fields, dict) and "headers" in fields:
        # The payload says more than the HTTP headers: headers go last.
        fields = {**{k: v for k, v in fields.items() if k != "headers"}, "headers": fields["headers"]}
    return fields


def wake_up_time(fields: Any) -> datetime.datetime | None:
    """When a sleep ends: journal v2 keeps it in the entry (milliseconds since the epoch)."""
    millis = fields.get("wake_up_time") if isinstance(fields, dict) else None
    if not isinstance(millis, int):
        return None
    try:
        return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _unwrap(value: Any) -> Any:
    # {"Command": {"SetState": {...}}} -> {...}: the entry type column already says what it is.
    # Type tags are CamelCase, field names snake_case; only tags are peeled off.
    while isinstance(value, dict) and len(value) == 1:
        tag, inner = next(iter(value.items()))
        if not (tag[:1].isupper() and isinstance(inner, dict)):
            break
        value = inner
    return value


def readable_bytes(raw: bytes) -> Any:
    """A payload as a value to embed: JSON parsed straight away (the common case), anything else
    as :func:`~django_restate.state.decode_value` shows it."""
    if raw[:1] in (b"{", b"[", b'"') or raw[:1].isdigit():
        try:
            return json.loads(raw, parse_constant=_not_json)
        except (ValueError, RecursionError):
            pass
    return decode_value(raw).readable()


def _not_json(name: str) -> Any:
    raise ValueError(name)  # NaN / Infinity: let decode_value show it as text


def _decode_bytes(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _decode_bytes(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key in BYTE_FIELDS and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
            return readable_bytes(bytes(value))
        return [_decode_bytes(v) for v in value]
    return value

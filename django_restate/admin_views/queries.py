"""The SQL the admin pages send to Restate's ``/query``.

Filtering and pagination happen in the query (WHERE, ORDER BY, LIMIT/OFFSET), so a
page costs the same with a thousand objects or a hundred thousand. Pages ask for
one row more than they show to know whether a next page exists, instead of
counting every row on every load. Every value goes through
:func:`django_restate.sql.quote`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import partitions
from ..admin_api import AdminAPI, AdminAPIError
from ..sql import quote
from ..state import column_bytes, decode_value

PER_PAGE = 50
#: Restate invocation ids: inv_ and base62.
INVOCATION_ID = re.compile(r"^inv_[0-9A-Za-z]{10,64}$")
JOURNAL_LIMIT = 1000

#: Values of ``sys_invocation.status``, plus two that split "completed" by its result.
INVOCATION_STATUSES = (
    "pending",
    "scheduled",
    "ready",
    "running",
    "backing-off",
    "paused",
    "suspended",
    "completed",
    "succeeded",
    "failed",
)
_COMPLETED_AS = {"succeeded": "success", "failed": "failure"}

INVOCATION_LIST_COLUMNS = (
    "id, target, target_service_name, target_service_key, target_handler_name, target_service_ty, "
    "status, completion_result, created_at, modified_at, retry_count, invoked_by, invoked_by_target"
)


@dataclass(frozen=True)
class Page:
    """One page of rows, and whether there are pages before and after it."""

    rows: list[dict[str, Any]]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def fetch_page(api: AdminAPI, sql: str, number: int, per_page: int | None = None) -> Page:
    per_page = per_page or PER_PAGE
    number = max(1, number)
    rows = api.query(f"{sql} LIMIT {quote(per_page + 1)} OFFSET {quote((number - 1) * per_page)}")
    return Page(rows=rows[:per_page], number=number, has_next=len(rows) > per_page)


def where(conditions: Iterable[str]) -> str:
    conditions = list(conditions)
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


# -- state -------------------------------------------------------------------------------------


def state_instances(api: AdminAPI, *, service: str | None = None, key_prefix: str | None = None, page: int = 1) -> Page:
    """Virtual Object / Workflow instances that have state, ordered by service and key."""
    conditions = ["scope IS NULL"]
    if service:
        conditions.append(f"service_name = {quote(service)}")
    if key_prefix:
        # starts_with rather than LIKE: no wildcards in the user's text to escape.
        conditions.append(f"starts_with(service_key, {quote(key_prefix)})")
    # partition_key comes along so the instance page can read the state without a full scan.
    sql = (
        "SELECT service_name, service_key, partition_key, COUNT(*) AS entries, SUM(value_length) AS size FROM state"
        f"{where(conditions)} GROUP BY service_name, service_key, partition_key ORDER BY service_name, service_key"
    )
    return fetch_page(api, sql, page)


def locked_by(api: AdminAPI, service: str, key: str) -> str | None:
    """The invocation that holds this object's lock right now, if any."""
    rows = api.query(
        "SELECT invocation_id FROM sys_keyed_service_status "
        f"WHERE {partitions.condition(api, key)}service_name = {quote(service)} AND service_key = {quote(key)}"
    )
    return str(rows[0]["invocation_id"]) if rows else None


def promises(api: AdminAPI, service: str, key: str) -> list[dict[str, Any]]:
    """A workflow's durable promises, by name: pending, resolved (with the value) or rejected."""
    rows = api.query(
        "SELECT key, completed, completion_success_value, completion_failure FROM sys_promise "
        f"WHERE {partitions.condition(api, key)}service_name = {quote(service)} AND service_key = {quote(key)} "
        "ORDER BY key"
    )
    out = []
    for row in rows:
        value, failure = row.get("completion_success_value"), row.get("completion_failure")
        status = "pending" if not row.get("completed") else "rejected" if failure else "resolved"
        out.append(
            {
                "name": row["key"],
                "status": status,
                "value": decode_value(column_bytes(value)) if status == "resolved" else None,
                "failure": failure,
            }
        )
    return out


# -- invocations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvocationFilter:
    """What the invocation list is narrowed to; every field is optional."""

    status: str | None = None
    service: str | None = None
    handler: str | None = None
    key: str | None = None
    created_after: datetime.datetime | None = None
    created_before: datetime.datetime | None = None

    def conditions(self) -> list[str]:
        out = []
        if self.status in _COMPLETED_AS:
            out.append(f"status = 'completed' AND completion_result = {quote(_COMPLETED_AS[self.status])}")
        elif self.status:
            out.append(f"status = {quote(self.status)}")
        if self.service:
            out.append(f"target_service_name = {quote(self.service)}")
        if self.handler:
            out.append(f"target_handler_name = {quote(self.handler)}")
        if self.key is not None:
            out.append(f"target_service_key = {quote(self.key)}")
        if self.created_after is not None:
            out.append(f"created_at >= {quote(utc_literal(self.created_after))}")
        if self.created_before is not None:
            out.append(f"created_at < {quote(utc_literal(self.created_before))}")
        return out


def invocations(api: AdminAPI, filters: InvocationFilter, page: int = 1) -> Page:
    source, conditions = "sys_invocation", filters.conditions()
    if filters.key is not None:
        # One object's or workflow's invocations live in its partition: read only that one.
        narrowed = one_partition_view(api)
        own = partitions.narrowing(api, filters.key) if narrowed else None
        if narrowed and own is not None:
            source = f"({narrowed}) AS sys_invocation"
            conditions.insert(0, f"partition_key = {quote(own)}")
    sql = f"SELECT {INVOCATION_LIST_COLUMNS} FROM {source}{where(conditions)} ORDER BY created_at DESC"
    return fetch_page(api, sql, page)


#: The ``sys_invocation`` view as the server defines it: its columns, then its tables.
VIEW_DEFINITION = re.compile(
    r"CREATE VIEW sys_invocation AS SELECT (?P<columns>.+?) FROM (?P<tables>.*\bsys_invocation_status ss\b.*)",
    re.S | re.I,
)
VIEW_QUERY = "SELECT definition FROM information_schema.views WHERE table_name = 'sys_invocation'"
_one_partition_views: dict[str, str | None] = {}


def one_partition_view(api: AdminAPI) -> str | None:
    """The server's own ``sys_invocation`` view with its rows' ``partition_key`` as a column.

    The view leaves the partition key out, so a query through it cannot name one and
    reads every partition. Read from the server (once per admin URL), the view keeps
    its exact columns and statuses; None when the definition is not shaped as expected.
    """
    if api.url not in _one_partition_views:
        try:
            rows = api.query(VIEW_QUERY)
        except AdminAPIError:  # a server without information_schema: list through the view
            rows = []
        match = VIEW_DEFINITION.fullmatch(str(rows[0]["definition"]).strip()) if rows else None
        _one_partition_views[api.url] = (
            f"SELECT ss.partition_key AS partition_key, {match['columns']} FROM {match['tables']}" if match else None
        )
    return _one_partition_views[api.url]


def invocation(api: AdminAPI, invocation_id: str) -> dict[str, Any] | None:
    """One invocation, or None when there is none with this id (or it is not an invocation id)."""
    if not INVOCATION_ID.match(invocation_id):
        return None
    try:
        rows = api.query(f"SELECT * FROM sys_invocation WHERE id = {quote(invocation_id)}")
    except AdminAPIError as exc:
        # Restate decodes the id to find its partition, and fails the query when it cannot.
        if "invocation id" in exc.message:
            return None
        raise
    return rows[0] if rows else None


def journal(api: AdminAPI, invocation_id: str, limit: int = JOURNAL_LIMIT) -> list[dict[str, Any]]:
    """The journal entries of one invocation, oldest first (the raw bytes column is left out).

    Their ``partition_key`` is the target object's, which lets the state page skip a full scan.
    """
    return api.query(
        "SELECT partition_key, index, entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at, "
        "promise_name, "
        f"entry_json, appended_at FROM sys_journal WHERE id = {quote(invocation_id)} "
        f"ORDER BY index LIMIT {quote(limit)}"
    )


# -- values that come back ---------------------------------------------------------------------


def utc_literal(moment: datetime.datetime) -> str:
    """An RFC 3339 UTC timestamp, which DataFusion compares with timestamp columns."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).isoformat()


def parse_time(value: object) -> datetime.datetime | None:
    """A ``/query`` timestamp (``2026-01-02T03:04:05.678Z``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def with_times(row: Mapping[str, Any], *columns: str) -> dict[str, Any]:
    """``row`` with the given timestamp columns parsed, for Django's date filters."""
    out = dict(row)
    for column in columns:
        out[column] = parse_time(row.get(column))
    return out


def partition_key(value: object) -> int | None:
    """A partition key from a query string or a row, or None when it is not one."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 0 <= number < 2**64 else None

"""Typed readers of Restate's ``/query`` tables: the only SQL the admin pages send.

Filtering and pagination happen in the query (WHERE, ORDER BY, LIMIT/OFFSET), so a
page costs the same with a thousand objects or a hundred thousand. Pages ask for
one row more than they show to know whether a next page exists, instead of
counting every row on every load. Every value goes through
:func:`~django_restate.admin_api.sql.quote`, every ``partition_key = N`` through
:func:`~django_restate.admin_api.partitions.clause`.

Rows are ``TypedDict`` s named after the table they come from, so a template or a test
reads them as the dicts ``/query`` returns, and mypy knows their columns.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypedDict, TypeVar, cast

from ..exceptions import AdminAPIError
from ..state import (
    DecodedValue,
    column_bytes,
    decode_value,
    digest_version_of_digests,
    entries_from_rows,
    state_version,
)
from . import partitions
from .client import AdminAPI
from .redaction import redact_entry_json
from .sql import quote

PER_PAGE = 50
#: Restate invocation ids: inv_ and base62.
INVOCATION_ID = re.compile(r"^inv_[0-9A-Za-z]{10,64}$")
JOURNAL_LIMIT = 1000
#: State values larger than this (bytes) stay on the server until asked for.
VALUE_CAP = 64 * 1024
#: Journal entries longer than this (characters of ``entry_json``) stay on the server until asked for.
ENTRY_CAP = 64 * 1024

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
    "status, completion_result, created_at, modified_at, completed_at, next_retry_at, retry_count, last_failure, "
    "invoked_by, invoked_by_target"
)


class StateInstance(TypedDict):
    """One Virtual Object / Workflow instance with state (``state`` grouped by instance)."""

    service_name: str
    service_key: str
    partition_key: int | None
    entries: int
    size: int


class InvocationRow(TypedDict, total=False):
    """A ``sys_invocation`` row: these columns in lists, every column of the view for one invocation."""

    id: str
    target: str
    target_service_name: str
    target_service_key: str | None
    target_handler_name: str
    target_service_ty: str
    status: str
    completion_result: str | None
    created_at: str
    modified_at: str
    completed_at: str | None
    next_retry_at: str | None
    retry_count: int
    last_failure: str | None
    invoked_by: str
    invoked_by_target: str | None


class JournalRow(TypedDict, total=False):
    """A ``sys_journal`` row, without its raw bytes column."""

    partition_key: int
    index: int
    entry_type: str
    name: str | None
    completed: bool | None
    invoked_id: str | None
    invoked_target: str | None
    sleep_wakeup_at: str | None
    promise_name: str | None
    entry_json: str | None  # None when longer than the reader's cap: see entry_json_length
    entry_json_length: int | None
    appended_at: str | None


class Promise(TypedDict):
    """A workflow's durable promise (``sys_promise``), its value decoded."""

    name: str
    status: Literal["pending", "resolved", "rejected"]
    value: DecodedValue | None
    failure: str | None


Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of rows, and whether there are pages before and after it."""

    rows: list[Row]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def fetch_page(api: AdminAPI, sql: str, number: int, per_page: int | None = None) -> Page[dict[str, Any]]:
    per_page = per_page or PER_PAGE
    number = max(1, number)
    rows = api.query(f"{sql} LIMIT {quote(per_page + 1)} OFFSET {quote((number - 1) * per_page)}")
    return Page(rows=rows[:per_page], number=number, has_next=len(rows) > per_page)


def where(conditions: Iterable[str]) -> str:
    conditions = list(conditions)
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


# -- state -------------------------------------------------------------------------------------


def state_instances(
    api: AdminAPI, *, service: str | None = None, key_prefix: str | None = None, page: int = 1
) -> Page[StateInstance]:
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
    found = fetch_page(api, sql, page)
    rows = [
        StateInstance(
            service_name=str(row["service_name"]),
            service_key=str(row["service_key"]),
            partition_key=partitions.parse(row.get("partition_key")),
            entries=int(row.get("entries") or 0),
            size=int(row.get("size") or 0),
        )
        for row in found.rows
    ]
    return Page(rows=rows, number=found.number, has_next=found.has_next)


def state(api: AdminAPI, service: str, key: str, pk: int | None = None) -> dict[str, bytes]:
    """The whole state of one instance, raw bytes per state key (what a write must start from)."""
    return entries_from_rows(_instance_rows(api, service, key, pk, "key, value"))


@dataclass(frozen=True)
class ShownState:
    """An instance's state as a page reads it: values up to a cap, the rest left on the server."""

    values: dict[str, bytes]
    #: Keys whose values were too large to fetch, with their size in bytes.
    too_large: dict[str, int]
    #: SHA-256 (hex) of every value, fetched or not.
    digests: dict[str, str]

    @property
    def version(self) -> str:
        """What the page's edit forms carry: Restate's version when every value was read, else
        :func:`~django_restate.state.digest_version_of_digests` (checked against a full read on save)."""
        if not self.too_large:
            return state_version(self.values)
        return digest_version_of_digests(self.digests)


def shown_state(api: AdminAPI, service: str, key: str, pk: int | None = None, cap: int | None = None) -> ShownState:
    """The state for a page: values over ``cap`` bytes (default :data:`VALUE_CAP`) stay on the
    server (their size and digest come instead), so a 30 MB value never reaches a page."""
    cap = VALUE_CAP if cap is None else cap
    rows = _instance_rows(
        api,
        service,
        key,
        pk,
        f"key, value_length, CASE WHEN value_length <= {quote(cap)} THEN value END AS value, sha256(value) AS digest",
    )
    values, too_large, digests = {}, {}, {}
    for row in rows:
        name, size = str(row["key"]), int(row.get("value_length") or 0)
        digests[name] = str(row.get("digest") or "")
        if size > cap:
            too_large[name] = size
        else:
            values[name] = column_bytes(row.get("value"))
    return ShownState(values, too_large, digests)


def state_value(api: AdminAPI, service: str, key: str, state_key: str, pk: int | None = None) -> bytes | None:
    """One state value whole (for a download), or None when the instance has no such key."""
    rows = _instance_rows(api, service, key, pk, "key, value", f" AND key = {quote(state_key)}")
    return column_bytes(rows[0].get("value")) if rows else None


def _instance_rows(
    api: AdminAPI, service: str, key: str, pk: int | None, columns: str, more: str = ""
) -> list[dict[str, Any]]:
    """``state`` rows of one instance, read from its partition alone when its partition key is known.

    That is the key's own when the server agrees with :func:`~.partitions.partition_key`, else
    ``pk`` (a hint a link carried). A stale or forged ``pk`` finds nothing rather than something
    else, so an empty answer under a hint is checked without it.
    """

    def read(narrow: int | None) -> list[dict[str, Any]]:
        return api.query(
            f"SELECT {columns} FROM state WHERE {partitions.clause(narrow)}scope IS NULL "
            f"AND service_name = {quote(service)} AND service_key = {quote(key)}{more}"
        )

    own = partitions.narrowing(api, key)
    if own is not None:
        return read(own)
    found = read(pk) if pk is not None else []
    return found or read(None)


def locked_by(api: AdminAPI, service: str, key: str) -> str | None:
    """The invocation that holds this object's lock right now, if any."""
    rows = api.query(
        "SELECT invocation_id FROM sys_keyed_service_status "
        f"WHERE {partitions.condition(api, key)}service_name = {quote(service)} AND service_key = {quote(key)}"
    )
    return str(rows[0]["invocation_id"]) if rows else None


def promises(api: AdminAPI, service: str, key: str) -> list[Promise]:
    """A workflow's durable promises, by name: pending, resolved (with the value) or rejected."""
    rows = api.query(
        "SELECT key, completed, completion_success_value, completion_failure FROM sys_promise "
        f"WHERE {partitions.condition(api, key)}service_name = {quote(service)} AND service_key = {quote(key)} "
        "ORDER BY key"
    )
    out = []
    for row in rows:
        value, failure = row.get("completion_success_value"), row.get("completion_failure")
        status: Literal["pending", "resolved", "rejected"] = (
            "pending" if not row.get("completed") else "rejected" if failure else "resolved"
        )
        out.append(
            Promise(
                name=str(row["key"]),
                status=status,
                value=decode_value(column_bytes(value)) if status == "resolved" else None,
                failure=str(failure) if failure else None,
            )
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


def _invocations_from(api: AdminAPI, filters: InvocationFilter) -> str:
    """``FROM ... WHERE ...`` of the invocations matching ``filters``."""
    source, conditions = "sys_invocation", filters.conditions()
    if filters.key is not None:
        # One object's or workflow's invocations live in its partition: read only that one.
        narrowed = one_partition_view(api)
        own = partitions.narrowing(api, filters.key) if narrowed else None
        if narrowed and own is not None:
            source = f"({narrowed}) AS sys_invocation"
            conditions.insert(0, partitions.equals(own))
    return f"FROM {source}{where(conditions)}"


def invocations(api: AdminAPI, filters: InvocationFilter, page: int = 1) -> Page[InvocationRow]:
    sql = f"SELECT {INVOCATION_LIST_COLUMNS} {_invocations_from(api, filters)} ORDER BY created_at DESC"
    found = fetch_page(api, sql, page)
    return Page(rows=[_invocation_row(row) for row in found.rows], number=found.number, has_next=found.has_next)


#: The most invocations one bulk action acts on; the confirmation says when more match.
MAX_BULK = 10_000


def matching_ids(api: AdminAPI, filters: InvocationFilter, limit: int = MAX_BULK) -> list[str]:
    """The ids of every invocation matching ``filters`` (not only one page), newest first."""
    rows = api.query(f"SELECT id {_invocations_from(api, filters)} ORDER BY created_at DESC LIMIT {quote(limit)}")
    return [str(row["id"]) for row in rows]


def count_matching(api: AdminAPI, filters: InvocationFilter) -> int:
    rows = api.query(f"SELECT COUNT(*) AS n {_invocations_from(api, filters)}")
    return int(rows[0]["n"]) if rows else 0


def _invocation_row(row: dict[str, Any]) -> InvocationRow:
    return cast(InvocationRow, row)  # the columns asked for (for one invocation: all of them)


#: The ``sys_invocation`` view as the server defines it: its columns, then its tables.
VIEW_DEFINITION = re.compile(
    r"CREATE VIEW sys_invocation AS SELECT (?P<columns>.+?) FROM (?P<tables>.*\bsys_invocation_status ss\b.*)",
    re.S | re.I,
)
VIEW_QUERY = "SELECT definition FROM information_schema.views WHERE table_name = 'sys_invocation'"
#: Where :func:`one_partition_view` keeps the server's view, once read.
VIEW_FACT = "one_partition_view"


def one_partition_view(api: AdminAPI) -> str | None:
    """The server's own ``sys_invocation`` view with its rows' ``partition_key`` as a column.

    The view leaves the partition key out, so a query through it cannot name one and
    reads every partition. Read from the server (once per :class:`AdminAPI`), the view keeps
    its exact columns and statuses; None when the definition is not shaped as expected.
    """
    if VIEW_FACT not in api.facts:
        try:
            rows = api.query(VIEW_QUERY)
        except AdminAPIError:  # a server without information_schema: list through the view
            rows = []
        match = VIEW_DEFINITION.fullmatch(str(rows[0]["definition"]).strip()) if rows else None
        api.facts[VIEW_FACT] = (
            f"SELECT ss.partition_key AS partition_key, {match['columns']} FROM {match['tables']}" if match else None
        )
    view: str | None = api.facts[VIEW_FACT]
    return view


def invocation(api: AdminAPI, invocation_id: str) -> InvocationRow | None:
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
    return _invocation_row(rows[0]) if rows else None


def journal(
    api: AdminAPI, invocation_id: str, limit: int = JOURNAL_LIMIT, cap: int | None = None
) -> list[JournalRow]:
    """The journal entries of one invocation, oldest first (the raw bytes column is left out).

    ``entry_json`` longer than ``cap`` characters (default :data:`ENTRY_CAP`) is left on the
    server: the row says how long it is (``entry_json_length``) and :func:`journal_entry` reads
    it alone, so a 30 MB payload never reaches a page. Recorded credential headers are redacted
    (:mod:`.redaction`). Their ``partition_key`` is the target object's, which lets the state
    page skip a full scan.
    """
    cap = ENTRY_CAP if cap is None else cap
    rows = api.query(
        "SELECT partition_key, index, entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at, "
        f"promise_name, CASE WHEN character_length(entry_json) <= {quote(cap)} THEN entry_json END AS entry_json, "
        "character_length(entry_json) AS entry_json_length, appended_at "
        f"FROM sys_journal WHERE id = {quote(invocation_id)} ORDER BY index LIMIT {quote(limit)}"
    )
    for row in rows:
        row["entry_json"] = redact_entry_json(row.get("entry_json"))
    return [cast(JournalRow, row) for row in rows]


def journal_entry(api: AdminAPI, invocation_id: str, index: int) -> str | None:
    """One journal entry's whole ``entry_json`` (credential headers redacted), or None if there is none."""
    rows = api.query(
        f"SELECT entry_json FROM sys_journal WHERE id = {quote(invocation_id)} AND index = {quote(index)}"
    )
    return redact_entry_json(rows[0].get("entry_json")) if rows else None


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

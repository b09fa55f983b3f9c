"""The partition key of a Virtual Object or Workflow key, so a ``/query`` can name it.

Restate's ``/query`` narrows a scan to one partition only when the query names a
``partition_key`` (or an invocation id); a filter on ``service_key`` alone reads every
row of every partition. Restate derives the partition key from the key: xxh3-64 of its
UTF-8 bytes followed by a 0xFF byte (Rust's ``Hash`` for ``str``). That is an internal
detail of the server, so it is checked against one row the server itself keyed before
anything relies on it, once per :class:`~django_restate.admin_api.AdminAPI` (the admin
pages share one per settings); where it does not match, queries go without it.

This module is the only writer of ``partition_key = N`` (:func:`equals`, :func:`clause`).
"""

from __future__ import annotations

import logging

import xxhash

from ..exceptions import AdminAPIError
from .client import AdminAPI
from .sql import quote

logger = logging.getLogger("django_restate.admin_api")

#: Where :func:`narrowing` keeps, per server, whether keys computed here match its partition keys.
FACT = "partition_keys_agree"

#: One keyed row the server has written, to compare against: state first, else an invocation of a keyed service.
PROBES = (
    "SELECT service_key AS key, partition_key FROM state LIMIT 1",
    "SELECT target_service_key AS key, partition_key FROM sys_invocation_status "
    "WHERE target_service_ty IN ('virtual_object', 'workflow') LIMIT 1",
)
MAX_PARTITION_KEY = 2**64


def partition_key(key: str) -> int:
    """The partition key Restate gives the instance ``key`` (of any keyed service)."""
    return xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass") + b"\xff")


def parse(value: object) -> int | None:
    """A partition key as a query string or a ``/query`` row carries it, or None when it is not one."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 0 <= number < MAX_PARTITION_KEY else None


def equals(pk: int) -> str:
    """``"partition_key = N"``: the condition Restate pushes down to read one partition."""
    return f"partition_key = {quote(pk)}"


def clause(pk: int | None) -> str:
    """``"partition_key = N AND "`` to open a WHERE clause, or ``""`` when ``pk`` is None."""
    return f"{equals(pk)} AND " if pk is not None else ""


def narrowing(api: AdminAPI, key: str) -> int | None:
    """``key``'s partition key when this server is known to agree with :func:`partition_key`, else None."""
    agrees = api.facts.get(FACT)
    if agrees is None:
        agrees = _check(api)
        if agrees is None:
            return None  # nothing keyed on the server yet: nothing to narrow either; ask again later
        api.facts[FACT] = agrees
    return partition_key(key) if agrees else None


def condition(api: AdminAPI, key: str) -> str:
    """:func:`clause` for ``key``: narrows to its partition when the partition key can be named."""
    return clause(narrowing(api, key))


def _check(api: AdminAPI) -> bool | None:
    for sql in PROBES:
        try:
            rows = api.query(sql)
        except AdminAPIError as exc:  # a server without these tables or columns (transient errors are retried)
            logger.warning("Cannot check Restate's partition keys at %s, lookups will scan: %s", api.safe_url, exc)
            return False
        if rows:
            row = rows[0]
            agrees = partition_key(str(row["key"])) == int(row["partition_key"])
            if not agrees:
                logger.warning(
                    "Restate at %s keys instances differently from this version of django_restate: "
                    "lookups of one key will scan every partition.",
                    api.safe_url,
                )
            return agrees
    return None

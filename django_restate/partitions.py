"""The partition key of a Virtual Object or Workflow key, so a ``/query`` can name it.

Restate's ``/query`` narrows a scan to one partition only when the query names a
``partition_key`` (or an invocation id); a filter on ``service_key`` alone reads every
row of every partition. Restate derives the partition key from the key: xxh3-64 of its
UTF-8 bytes followed by a 0xFF byte (Rust's ``Hash`` for ``str``). That is an internal
detail of the server, so it is checked against one row the server itself keyed before
anything relies on it, once per admin URL; where it does not match, queries go without it.
"""

from __future__ import annotations

import logging

import xxhash

from .admin_api import AdminAPI, AdminAPIError
from .sql import quote

logger = logging.getLogger("django_restate.partitions")

#: Admin URL -> whether keys computed here match that server's partition keys.
_checked: dict[str, bool] = {}

#: One keyed row the server has written, to compare against: state first, else an invocation of a keyed service.
PROBES = (
    "SELECT service_key AS key, partition_key FROM state LIMIT 1",
    "SELECT target_service_key AS key, partition_key FROM sys_invocation_status "
    "WHERE target_service_ty IN ('virtual_object', 'workflow') LIMIT 1",
)


def partition_key(key: str) -> int:
    """The partition key Restate gives the instance ``key`` (of any keyed service)."""
    return xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass") + b"\xff")


def narrowing(api: AdminAPI, key: str) -> int | None:
    """``key``'s partition key when this server is known to agree with :func:`partition_key`, else None."""
    agrees = _checked.get(api.url)
    if agrees is None:
        agrees = _check(api)
        if agrees is None:
            return None  # nothing keyed on the server yet: nothing to narrow either; ask again later
        _checked[api.url] = agrees
    return partition_key(key) if agrees else None


def condition(api: AdminAPI, key: str) -> str:
    """``"partition_key = N AND "`` to open a WHERE clause about ``key``, or ``""`` when N cannot be named."""
    own = narrowing(api, key)
    return f"partition_key = {quote(own)} AND " if own is not None else ""


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

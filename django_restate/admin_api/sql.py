"""The one place that puts values into SQL sent to the Restate admin API's ``/query``.

``/query`` (DataFusion) has no bind parameters, so every value goes through
:func:`quote` and every identifier through :func:`identifier`. DataFusion's
plain string literals have a single escape: a doubled quote; backslashes and
NUL bytes are ordinary characters inside them.
"""

from __future__ import annotations

import re

#: Longer literals are refused: a bound on what one query carries. Restate's ingress accepts
#: object keys far over 4,096 characters, and their state must stay readable and clearable.
MAX_LITERAL = 65536
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote(value: str | int | bool | None) -> str:
    """A SQL literal for ``value``: strings quoted, numbers checked, ``None`` as NULL."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if not isinstance(value, str):
        raise TypeError(f"Cannot quote {type(value).__name__} for SQL; pass a str, int, bool or None.")
    if len(value) > MAX_LITERAL:
        raise ValueError(f"Value too long for a query ({len(value)} characters, at most {MAX_LITERAL}).")
    return "'" + value.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A column or table name; only plain identifiers are accepted, never user text."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"Not a plain SQL identifier: {name!r}")
    return name

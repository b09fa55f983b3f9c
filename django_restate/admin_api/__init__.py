"""Everything the admin pages and ``restate_register`` know about Restate's admin API.

- :mod:`.client`: :class:`AdminAPI`, the HTTP client (one per settings: :func:`get_admin_api`);
- :mod:`.sql`: :func:`quote`, the one way a value gets into ``/query`` SQL;
- :mod:`.partitions`: the partition key of an object key, so a query reads one partition;
- :mod:`.queries`: typed readers of the ``/query`` tables (state, invocations, journal, promises);
- :mod:`.state_edit`: replacing an object's state only if nobody changed it since it was shown.
"""

from ..exceptions import AdminAPIError, AdminAPIUnreachable
from .client import INVOCATION_ACTIONS, TRANSIENT_QUERY_ERRORS, AdminAPI, get_admin_api, seg
from .sql import quote

__all__ = [
    "INVOCATION_ACTIONS",
    "TRANSIENT_QUERY_ERRORS",
    "AdminAPI",
    "AdminAPIError",
    "AdminAPIUnreachable",
    "get_admin_api",
    "quote",
    "seg",
]

"""Testing tools for projects that use django_restate.

- `MockRestate` (``restate_mock`` fixture): handler classes run in-process, state in
  the ORM; add ``"django_restate.testing"`` to ``INSTALLED_APPS`` in test settings. It is a
  transport of the client: while the fixture (or ``with mock_restate():``) is active, the
  project's ``django_restate.client.client`` runs against it.
- `RealRestate` (``restate_backend`` fixture, ``[real]``): the same API on a real server.
- ``server.RestateServer`` / ``live.LiveASGIServer``: a real restate-server and a served project.
- `eventually` / `aeventually`: poll until a check passes, for effects that happen in
  the background on a real server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .waiting import aeventually, eventually

if TYPE_CHECKING:  # the real types for mypy; at run time they are imported on first use
    from .harness import MockRestate, mock_restate
    from .real import RealRestate

__all__ = ["MockRestate", "RealRestate", "aeventually", "eventually", "mock_restate"]


def __getattr__(name: str) -> Any:
    # Lazily: this package is also a Django app, whose models cannot be imported before setup.
    if name == "MockRestate":
        from .harness import MockRestate

        return MockRestate
    if name == "mock_restate":
        from .harness import mock_restate

        return mock_restate
    if name == "RealRestate":
        from .real import RealRestate

        return RealRestate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

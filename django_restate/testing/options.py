"""The mock's options and their defaults, in one place: ``MockRestate(...)`` takes them, and the
``restate_mock`` marker is checked against ``mock_options``'s signature (as pytest-django checks
its ``django_db`` marker). A leaf module, so the pytest plugin can read it before Django is set up.
"""

from __future__ import annotations

import inspect
from typing import Any

#: How often the mock retries an invocation that has no ``invocation_retry_policy`` before it
#: reports the error to the test (the real server would go on retrying).
DEFAULT_MAX_ATTEMPTS = 5


def mock_options(
    replay_check: bool = False, max_attempts: int = DEFAULT_MAX_ATTEMPTS, start_time: float | None = None
) -> dict[str, Any]:
    """The options of a mock, by name: call it with ``@pytest.mark.restate_mock(...)``'s arguments
    and Python itself rejects an unknown or repeated one."""
    return {"replay_check": replay_check, "max_attempts": max_attempts, "start_time": start_time}


def signature() -> str:
    """``(replay_check=False, max_attempts=5, start_time=None)``, for the marker's help."""
    parameters = inspect.signature(mock_options).parameters.values()
    return "(" + ", ".join(f"{p.name}={p.default!r}" for p in parameters) + ")"

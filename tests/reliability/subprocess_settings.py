"""Settings for the Django server the reliability suite runs as a subprocess (so it can kill it).

The subprocess must use the test process's *test* database, whose name only the
test process knows (pytest-django creates it): the test passes it in
``RELIABILITY_DATABASE_NAME``.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["RELIABILITY_DATABASE_NAME"]
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Lets the load test count this server's connections in pg_stat_activity.
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = "reliability-uvicorn"

# The demo's URLs plus a view that reads a task's result (tests/reliability/test_tasks_crash.py).
ROOT_URLCONF = "tests.tasks_app.urls"

"""Test settings: the demo project, with a file-based test database so the ASGI server
threads of the end-to-end tests share it with the test."""

import os
import tempfile

from demo_project.settings import *  # noqa: F403
from demo_project.settings import DATABASES

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"django-restate-test-{os.getpid()}.sqlite3")
    }

# The demo serves hashed names from collectstatic's manifest; tests render pages without running it.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
INSTALLED_APPS = [*INSTALLED_APPS, "tests.admin_app"]  # noqa: F405  (handlers for the admin tests)
INSTALLED_APPS = [*INSTALLED_APPS, "tests.reliability_app"]  # noqa: F405  (handlers for the reliability suite)
INSTALLED_APPS = [*INSTALLED_APPS, "django_restate.testing", "tests.parity_app"]  # noqa: F405  (mock + parity suite)
INSTALLED_APPS = [*INSTALLED_APPS, "tests.runtime_app"]  # noqa: F405  (handlers using the ORM, client tests)
INSTALLED_APPS = [*INSTALLED_APPS, "tests.types_app"]  # noqa: F405  (typed inputs/outputs)
INSTALLED_APPS = [*INSTALLED_APPS, "tests.sdk_app"]  # noqa: F405  (SDK-style services, mounted unchanged)
INSTALLED_APPS = [*INSTALLED_APPS, "tests.interop_app"]  # noqa: F405  (what non-Python clients send)
INSTALLED_APPS = [*INSTALLED_APPS, "tests.tracing_app"]  # noqa: F405  (OpenTelemetry, tests/test_tracing.py)
INSTALLED_APPS = [*INSTALLED_APPS, "django_restate.tasks", "tests.tasks_app"]  # noqa: F405  (Django Tasks on Restate)
TASKS = {
    "default": {
        "BACKEND": "django_restate.tasks.RestateBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {
            "RETRY": {"max_attempts": 3, "initial_interval": 0.05, "factor": 2.0, "max_interval": 1.0},
            "TERMINAL_EXCEPTIONS": ["tests.tasks_app.tasks.Permanent"],
        },
    }
}

# The live test server is a thread of the test process: it runs no outbox relay of its own
# (tests that need one start it; tests/reliability starts Django processes with theirs).
RESTATE = {**RESTATE, "OUTBOX_RELAY": False}  # noqa: F405

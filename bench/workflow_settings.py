"""Settings of ``bench.workflow_bench``: one per side, chosen by ``BENCH_WORKFLOW_SIDE``
(``restate``: django-restate; ``bare``: the bare SDK next to Django; ``dbos``: DBOS Transact)."""

import os

from demo_project.settings import database_from_url

SIDE = os.environ.get("BENCH_WORKFLOW_SIDE", "restate")
SECRET_KEY = "bench"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = (["django_restate"] if SIDE == "restate" else []) + ["bench.workflowbench"]
# Persistent connections on every side, so nobody reconnects per step.
DATABASES = {"default": {**database_from_url(os.environ["DATABASE_URL"]), "CONN_MAX_AGE": 60}}
ROOT_URLCONF = "bench.workflowbench.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SILENCED_SYSTEM_CHECKS = ["django_restate.W001"]  # request signing is not what is measured
RESTATE = {
    "INGRESS_URL": os.environ.get("RESTATE_INGRESS_URL", "http://127.0.0.1:8080"),
    "ADMIN_URL": os.environ.get("RESTATE_ADMIN_URL", "http://127.0.0.1:9070"),
    # A side ':BENCH_BACKPRESSURE=N' holds sends back while N invocations run (docs/serving.md).
    "BACKPRESSURE": int(os.environ["BENCH_BACKPRESSURE"]) if os.environ.get("BENCH_BACKPRESSURE") else None,
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

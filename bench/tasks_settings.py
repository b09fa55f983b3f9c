"""Settings of ``bench.tasks_bench``: both Tasks backends on one PostgreSQL database."""

import os

from demo_project.settings import database_from_url

SECRET_KEY = "bench"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django_restate", "django_restate.tasks", "django_tasks_db", "bench.taskbench"]
# Persistent connections (a common production setting), for both backends alike.
DATABASES = {"default": {**database_from_url(os.environ["DATABASE_URL"]), "CONN_MAX_AGE": 60}}
ROOT_URLCONF = "bench.urls"
ASGI_APPLICATION = "bench.asgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Restate side: request signing is not what is measured.
SILENCED_SYSTEM_CHECKS = ["django_restate.W001"]
RESTATE = {
    "INGRESS_URL": os.environ.get("RESTATE_INGRESS_URL", "http://127.0.0.1:8080"),
    "ADMIN_URL": os.environ.get("RESTATE_ADMIN_URL", "http://127.0.0.1:9070"),
}
TASKS = {
    "default": {"BACKEND": "django_restate.tasks.RestateBackend"},
    "database": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}

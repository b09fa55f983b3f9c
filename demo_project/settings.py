"""Settings for the demo shop. SQLite by default; PostgreSQL when DATABASE_URL is set."""

import os
import secrets
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent


def local_secret_key(path: Path) -> str:
    """A random key made once per checkout and kept out of git: never a key everyone can read."""
    try:
        with open(path, "x", encoding="ascii") as fresh:  # "x": two processes starting at once agree
            fresh.write(secrets.token_urlsafe(50))
    except FileExistsError:
        pass
    return path.read_text(encoding="ascii").strip()


# Safe unless told otherwise: DEBUG is off unless DJANGO_DEBUG=1, the key comes from the environment
# (or a random one in demo_project/.secret_key, never one published in the repository).
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or local_secret_key(BASE_DIR / ".secret_key")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_restate",
    "demo_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS and JS) from the ASGI server itself: with DEBUG from the apps'
    # static/ folders, otherwise from STATIC_ROOT after `manage.py collectstatic`.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ASGI_APPLICATION = "demo_project.asgi.application"


def database_from_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgres:// URL, got {parts.scheme}://")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


if os.environ.get("DATABASE_URL"):
    DATABASES: dict[str, dict[str, Any]] = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DEMO_SQLITE", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {"timeout": 20},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Times are stored in UTC and shown in TIME_ZONE (e.g. DJANGO_TIME_ZONE=Europe/Berlin); pages name the zone.
USE_TZ = True
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / ".static"))
# WhiteNoise answers with a file iterator that is synchronous; under ASGI Django reads it in a
# thread and warns once per process that it does. Expected here, so not shown.
warnings.filterwarnings("ignore", "StreamingHttpResponse must consume synchronous iterators", Warning)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names after collectstatic, so browsers may cache them forever.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

RESTATE: dict[str, Any] = {
    "ADMIN_URL": os.environ.get("RESTATE_ADMIN_URL", "http://127.0.0.1:9070"),
    "INGRESS_URL": os.environ.get("RESTATE_INGRESS_URL", "http://127.0.0.1:8080"),
    "DEPLOYMENT_URL": os.environ.get("RESTATE_DEPLOYMENT_URL", "http://127.0.0.1:8000/restate"),
    # One process serves the views and the endpoint: under overload, sends wait while 12 invocations
    # are in flight here, so what runs finishes first (docs/serving.md, "Backpressure").
    "BACKPRESSURE": 12,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_restate": {"handlers": ["console"], "level": "INFO"}},
}

"""Minimal Django settings for the endpoint benchmark: only what a handler-serving project needs."""

SECRET_KEY = "bench"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django_restate", "bench.echo"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ROOT_URLCONF = "bench.urls"
ASGI_APPLICATION = "bench.asgi.application"
USE_TZ = True
RESTATE = {"IDENTITY_KEYS": []}

"""The opt-in app of the test toolkit: ``INSTALLED_APPS += ["django_restate.testing"]`` in test settings.

Its own app so that production databases never get its tables, as django-tasks does
with its database backend.
"""

from __future__ import annotations

from django.apps import AppConfig


class RestateTestingConfig(AppConfig):
    name = "django_restate.testing"
    label = "django_restate_testing"
    verbose_name = "Restate (test mock)"
    default_auto_field = "django.db.models.BigAutoField"

"""Django's Tasks framework (``django.tasks``, or the ``django-tasks`` backport) on Restate.

Add ``"django_restate.tasks"`` to ``INSTALLED_APPS`` and set
``TASKS = {"default": {"BACKEND": "django_restate.tasks.RestateBackend"}}``.
"""

from .backend import RestateBackend

__all__ = ["RestateBackend"]

"""The no-op task of ``bench.tasks_bench``, once per backend."""

from django_tasks import task


@task
def noop() -> None:
    """On RestateBackend (the "default" backend)."""


@task(backend="database")
def noop_db() -> None:
    """On django-tasks-db's DatabaseBackend, run by its ``db_worker``."""

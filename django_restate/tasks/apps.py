from django.apps import AppConfig


class RestateTasksConfig(AppConfig):
    """Runs Django Tasks on Restate: provides the ``DjangoTask`` workflow (autodiscovered from this
    app's ``restate_services``). A sync task's transaction is made exactly-once by the same record
    as ``atomic_step(once=True)``'s, ``django_restate.StepRun``."""

    name = "django_restate.tasks"
    label = "django_restate_tasks"
    verbose_name = "Restate tasks"
    default_auto_field = "django.db.models.BigAutoField"

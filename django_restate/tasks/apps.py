from django.apps import AppConfig


class RestateTasksConfig(AppConfig):
    """Runs Django Tasks on Restate: provides the ``DjangoTask`` workflow (autodiscovered from this
    app's ``restate_services``) and the table that makes a sync task's transaction exactly-once."""

    name = "django_restate.tasks"
    label = "django_restate_tasks"
    verbose_name = "Restate tasks"
    default_auto_field = "django.db.models.BigAutoField"

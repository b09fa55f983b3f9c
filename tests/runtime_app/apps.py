from django.apps import AppConfig


class RuntimeAppConfig(AppConfig):
    name = "tests.runtime_app"
    label = "runtime_app"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class ReliabilityAppConfig(AppConfig):
    name = "tests.reliability_app"
    label = "reliability_app"
    default_auto_field = "django.db.models.BigAutoField"

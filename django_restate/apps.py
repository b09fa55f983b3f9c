from django.apps import AppConfig


class SimpleRestateConfig(AppConfig):
    """django_restate without autodiscovery: register handler classes with ``registry.register()``."""

    name = "django_restate"
    verbose_name = "Restate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            runtime,  # noqa: F401  (notes which threads open database connections, from the start)
        )
        from .outbox import checks as outbox_checks  # noqa: F401  (registers the outbox's checks)


class RestateConfig(SimpleRestateConfig):
    """The default: discovers ``restate_services`` modules in every installed app."""

    default = True

    def ready(self) -> None:
        super().ready()
        from .registry import autodiscover

        autodiscover()

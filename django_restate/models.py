"""Table-less placeholder models: they give the admin its Restate pages and their permissions.

The data lives in Restate, never in this database (``managed = False``; no table
is created), so the admin always shows it live. Each model only exists to carry
an admin page and the permissions that guard it:

- ``view_overview``: the Restate section's overview page;
- ``view_registeredservice`` / ``invoke_handler``: see services and handlers / invoke them;
- ``view_state`` / ``change_state``: see / edit Virtual Object and Workflow state;
- ``view_invocation`` / ``manage_invocation``: see invocations / cancel, kill, pause,
  resume and purge them;
- ``view_deployment`` / ``register_deployment``: see deployments / register this project's.
"""

from __future__ import annotations

from django.db import models


class Overview(models.Model):
    """The Restate section at a glance: invocations per status and service, what fails now, the deployment."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "overview"
        verbose_name_plural = "overview"


class RegisteredService(models.Model):
    """A service registered with Restate (the admin's services page)."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        permissions = [("invoke_handler", "Can invoke handlers from the admin")]
        verbose_name = "service"
        verbose_name_plural = "services"


class State(models.Model):
    """The state of Virtual Object and Workflow instances."""

    class Meta:
        managed = False
        default_permissions = ("view", "change")
        verbose_name = "state"
        verbose_name_plural = "state"


class Invocation(models.Model):
    """Invocations, their journals, and the actions on them."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        permissions = [("manage_invocation", "Can cancel, kill, pause, resume and purge invocations")]
        verbose_name = "invocation"
        verbose_name_plural = "invocations"


class Deployment(models.Model):
    """Deployments registered with Restate."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        permissions = [("register_deployment", "Can register this project's deployment")]
        verbose_name = "deployment"
        verbose_name_plural = "deployments"


# The app's two real tables: the outbox (sends recorded in the caller's transaction) and the runs of
# atomic_step(once=True) steps.
from .outbox.models import OutboxMessage  # noqa: E402
from .steps import StepRun  # noqa: E402

__all__ = ["Deployment", "Invocation", "OutboxMessage", "RegisteredService", "State", "StepRun"]

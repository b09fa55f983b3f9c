"""Restate in the Django admin: services, state, invocations and deployments, live.

Each page hangs off a table-less placeholder model (``django_restate.models``) whose
ModelAdmin replaces the usual changelist with its own URLs. Every view is wrapped
in ``admin_site.admin_view``: staff login, CSRF protection and no caching, as for
the admin's own pages. The views check the model permissions themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from .admin_views import deployments, instances, invocations, invoke, overview, services
from .admin_views.base import ModelAdmin
from .models import Deployment, Invocation, OutboxMessage, Overview, RegisteredService, State
from .outbox.admin import OutboxAdmin

PageView = Callable[..., HttpResponse]


class RestatePageAdmin(ModelAdmin):
    """A page over live Restate data: nothing to add or delete, its own URLs.

    ``pages`` lists ``(route, view, name)``; each view is called as
    ``view(request, model_admin, **url_kwargs)`` and is reversed as
    ``admin:django_restate_<model>_<name>``. The "changelist" page is what the
    admin index links to.
    """

    pages: list[tuple[str, PageView, str]] = []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(route, self.admin_site.admin_view(self.bind(view)), name=f"{prefix}_{name}")
            for route, view, name in self.pages
        ]

    def bind(self, view: PageView) -> PageView:
        def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Links resolve within the site that serves the page ({% url %} reads it too),
            # so the pages work on a project's own AdminSite as on the default one.
            request.current_app = self.admin_site.name
            return view(request, self, *args, **kwargs)

        return update_wrapper(page, view)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, str] | None = None) -> HttpResponse:
        return self.bind(self.pages[0][1])(request)


@admin.register(Overview)
class OverviewAdmin(RestatePageAdmin):
    pages = [("", overview.overview, "changelist")]


@admin.register(RegisteredService)
class ServiceAdmin(RestatePageAdmin):
    pages = [
        ("", services.service_list, "changelist"),
        ("<str:name>/", services.service_detail, "detail"),
        ("<str:name>/<str:handler>/invoke/", invoke.invoke_handler, "invoke"),
    ]


@admin.register(State)
class StateAdmin(RestatePageAdmin):
    pages = [
        ("", instances.instance_list, "changelist"),
        ("instance/", instances.instance_detail, "instance"),
        ("instance/value/", instances.value_download, "value"),
    ]


@admin.register(Invocation)
class InvocationAdmin(RestatePageAdmin):
    pages = [
        ("", invocations.invocation_list, "changelist"),
        ("actions/", invocations.bulk_action, "bulk_action"),
        ("<str:invocation_id>/", invocations.invocation_detail, "detail"),
        ("<str:invocation_id>/journal/<int:index>/", invocations.journal_entry_download, "journal_entry"),
        ("<str:invocation_id>/<str:action>/", invocations.invocation_action, "action"),
    ]


@admin.register(Deployment)
class DeploymentAdmin(RestatePageAdmin):
    pages = [
        ("", deployments.deployment_list, "changelist"),
        ("register/", deployments.register_deployment, "register"),
    ]


admin.site.register(OutboxMessage, OutboxAdmin)

class RestateObjectMixin(ModelAdmin):
    """Show, on a model's change page, the Virtual Object or Workflow the row belongs to::

        @admin.register(Order)
        class OrderAdmin(RestateObjectMixin, admin.ModelAdmin):
            restate_object = Checkout          # the class, or its service name
            restate_key = "order_id"           # a field of the row, or a callable(obj) -> key

    The page then shows the object's state, a workflow's promises, its recent invocations, links
    to the Restate pages, and the invoke form for each handler with the key filled in; each part
    only to users with the matching Restate permission.
    """

    restate_object: Any = None
    restate_key: str | Callable[[Any], str] = "pk"
    change_form_template = "admin/django_restate/restate_object_change_form.html"

    def restate_service_name(self) -> str:
        if isinstance(self.restate_object, str):
            return self.restate_object
        if self.restate_object is None:
            raise ImproperlyConfigured(f"{type(self).__name__}.restate_object names no Restate class or service.")
        from .registry import registry

        return registry.get(self.restate_object).name

    def restate_key_of(self, obj: Any) -> str:
        key = self.restate_key
        return str(key(obj) if callable(key) else getattr(obj, key))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        from .admin_views.linked import restate_object

        request.current_app = self.admin_site.name  # links stay within the site serving the page
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if obj is not None:
            context["restate_object"] = restate_object(request, self.restate_service_name(), self.restate_key_of(obj))
        return super().change_view(request, object_id, form_url, context)


#: Every Restate page, by the model it hangs off (placeholders, and the outbox's real table).
PAGES: dict[type[Any], type[ModelAdmin]] = {
    Overview: OverviewAdmin,
    RegisteredService: ServiceAdmin,
    State: StateAdmin,
    Invocation: InvocationAdmin,
    Deployment: DeploymentAdmin,
    OutboxMessage: OutboxAdmin,
}


def register_pages(site: admin.AdminSite) -> None:
    """Put the Restate pages on a project's own admin site too (they are on ``admin.site`` already)::

    ops = AdminSite(name="ops")
    register_pages(ops)
    """
    for model, model_admin in PAGES.items():
        site.register(model, model_admin)

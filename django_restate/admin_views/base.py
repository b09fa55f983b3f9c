"""What every Restate admin page shares: its context, the error banner, pagination links,
permission checks and the admin log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from ..admin_api import AdminAPI, AdminAPIError, AdminAPIUnreachable, get_admin_api

#: The errors a page turns into a banner instead of a server error.
RESTATE_ERRORS = (AdminAPIUnreachable, AdminAPIError)

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # ModelAdmin is generic only in django-stubs
    ModelAdmin = admin.ModelAdmin


def render(
    request: HttpRequest,
    model_admin: ModelAdmin,
    template: str,
    title: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> TemplateResponse:
    """A page in the admin's look: ``each_context`` first (sidebar, user links), then ours."""
    opts = model_admin.opts
    page = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "app_label": opts.app_label,
        "title": title,
        "has_view_permission": model_admin.has_view_permission(request),
        **(context or {}),
    }
    return TemplateResponse(request, f"admin/django_restate/{template}", page, status=status)


def banner(exc: Exception) -> str:
    """The message shown at the top of a page when the Restate admin API failed."""
    if isinstance(exc, AdminAPIUnreachable):
        return (
            f"{exc} Is restate-server running, and does RESTATE['ADMIN_URL'] point at its admin API? "
            "Everything on this page comes live from Restate, so it cannot be shown right now."
        )
    return f"{exc} Nothing else is shown, so that nothing reads as missing data; reload the page to try again."


@dataclass
class Live:
    """What a page reads from Restate with, and the banner to show if reading failed."""

    api: AdminAPI
    error: str | None = None


@contextmanager
def live() -> Iterator[Live]:
    """Read from Restate inside the block; if the admin API fails, the rest of the block is
    skipped and ``.error`` holds the banner, which the page then shows alone (never a 500,
    never an empty table that would read as "no data")::

        with live() as restate:
            rows = queries.invocations(restate.api, filters)
        context["restate_error"] = restate.error
    """
    page = Live(get_admin_api())
    try:
        yield page
    except RESTATE_ERRORS as exc:
        page.error = banner(exc)


def link(viewname: str, *args: str, current_app: str | None = None) -> str | None:
    """The URL of a page about ``args``, or None when they cannot be in a URL path (a service
    name or invocation id with ``/`` in it, as anyone may type): such names are shown as text."""
    try:
        return reverse(viewname, args=args, current_app=current_app)
    except NoReverseMatch:
        return None


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


#: Beyond this the OFFSET no longer fits the query engine's integers; nobody pages that far.
MAX_PAGE = 10**9


def page_number(request: HttpRequest) -> int:
    try:
        return min(max(1, int(request.GET.get("p", "1"))), MAX_PAGE)
    except ValueError:
        return 1


def page_links(request: HttpRequest, has_previous: bool, has_next: bool, number: int) -> dict[str, str | None]:
    """Query strings for the previous / next page that keep the current filters."""

    def link(to: int) -> str:
        query = request.GET.copy()
        query["p"] = str(to)
        return "?" + query.urlencode()

    return {
        "previous_url": link(number - 1) if has_previous else None,
        "next_url": link(number + 1) if has_next else None,
    }


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The ``next`` URL of a form, if it stays on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


def log(request: HttpRequest, model: type[models.Model], object_id: str, label: str, flag: int, message: str) -> None:
    """Record who did what in Django's admin log (the "Recent actions" of the admin index)."""
    user_id = request.user.pk
    if user_id is None:  # admin_view lets only logged-in staff in
        raise PermissionDenied
    LogEntry.objects.create(
        user_id=user_id,
        content_type_id=ContentType.objects.get_for_model(model, for_concrete_model=False).pk,
        object_id=object_id,
        object_repr=label[:200],
        action_flag=flag,
        change_message=message,
    )

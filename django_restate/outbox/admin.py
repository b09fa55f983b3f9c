"""The admin's "Outbox" page: rows not delivered yet, why, and what a person can do about them.

A real table, so a plain ModelAdmin: a read-only changelist (pending, overdue and
failed rows with their age, attempts and last error; delivered ones on request) and
two actions, each behind its own permission and recorded in the admin log:

- "Send now" (``django_restate.send_outboxmessage``): send the selected rows at once,
  overdue and failed ones included (a person has checked that they should go);
- "Discard" (``django_restate.discard_outboxmessage``): delete them unsent.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from ..admin_views.base import ModelAdmin
from .models import OutboxMessage
from .relay import send_now
from .settings import overdue_cutoff

Status = OutboxMessage.Status


class StateFilter(admin.SimpleListFilter):
    """Pending, overdue, failed or delivered; by default everything not delivered."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("pending", "Pending"),
            ("overdue", "Overdue (needs a person)"),
            ("failed", "Failed (needs a person)"),
            ("delivered", "Delivered"),
            ("all", "All"),
        ]

    def choices(self, changelist: Any) -> Any:
        for choice in super().choices(changelist):
            if choice["display"] == "All" and choice["query_string"].find(self.parameter_name) == -1:
                choice["display"] = "Not delivered"  # the default view
            yield choice

    def queryset(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> QuerySet[OutboxMessage]:
        cutoff = overdue_cutoff()
        value = self.value()
        if value == "pending":
            return queryset.filter(status=Status.PENDING, created_at__gt=cutoff)
        if value == "overdue":
            return queryset.filter(status=Status.PENDING, created_at__lte=cutoff)
        if value in (Status.FAILED, Status.DELIVERED):
            return queryset.filter(status=value)
        if value == "all":
            return queryset
        return queryset.exclude(status=Status.DELIVERED)


class OutboxAdmin(ModelAdmin):
    list_display = ["id", "target", "state", "age", "attempts", "error", "next_attempt_at"]
    list_display_links = ["id", "target"]
    list_filter = [StateFilter, "service"]
    search_fields = ["service", "handler", "key", "idempotency_key", "invocation_id"]
    ordering = ["-created_at"]
    actions = ["send_selected", "discard_selected"]
    fields = readonly_fields = (
        "target",
        "state",
        "age",
        "created_at",
        "attempts",
        "next_attempt_at",
        "last_error",
        "idempotency_key",
        "delay_ms",
        "header_names",
        "input",
        "claimed_by",
        "claimed_until",
        "delivered_at",
        "invocation_id",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # "Discard" is its own permission

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_restate.send_outboxmessage")

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_restate.discard_outboxmessage")

    # -- columns --------------------------------------------------------------------------

    @admin.display(description="state")
    def state(self, row: OutboxMessage) -> str:
        if row.is_overdue():
            return format_html('<strong style="color: var(--error-fg, #ba2121)">{}</strong>', "overdue")
        if row.status == Status.FAILED:
            return format_html('<strong style="color: var(--error-fg, #ba2121)">{}</strong>', "failed")
        return str(row.status)

    @admin.display(description="age", ordering="created_at")
    def age(self, row: OutboxMessage) -> str:
        return timesince(row.created_at, timezone.now())

    @admin.display(description="last error")
    def error(self, row: OutboxMessage) -> str:
        text = row.last_error
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="headers")
    def header_names(self, row: OutboxMessage) -> str:
        # Names only: a header value may be a credential.
        return ", ".join(sorted(row.headers or {})) or "-"

    @admin.display(description="input")
    def input(self, row: OutboxMessage) -> str:
        if row.body is None:
            return "-"
        data = bytes(row.body)
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return f"{len(data)} bytes (not text)"
        return text if len(text) <= 2000 else text[:2000] + f"… ({len(data)} bytes)"

    # -- actions --------------------------------------------------------------------------

    @admin.action(description="Send now", permissions=["send"])
    def send_selected(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        table = OutboxMessage.objects.using(queryset.db)
        selected = list(queryset.exclude(status=Status.DELIVERED).values_list("pk", flat=True))
        counts = send_now(table.filter(pk__in=selected), name=f"admin:{request.user.get_username()}"[:100])
        for row in table.filter(pk__in=selected):
            error = f" ({row.last_error})" if row.last_error else ""
            self.log_change(request, row, f"Sent now: {row.status}{error}")
        summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n) or "nothing to send"
        level = messages.SUCCESS if counts["delivered"] == sum(counts.values()) else messages.WARNING
        self.message_user(request, f"Send now: {summary}.", level)

    @admin.action(description="Discard (delete unsent)", permissions=["discard"])
    def discard_selected(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        rows = queryset.exclude(status=Status.DELIVERED)
        self.log_deletions(request, rows)
        count = len(rows)
        OutboxMessage.objects.using(queryset.db).filter(pk__in=[r.pk for r in rows]).delete()
        plural = "s" if count != 1 else ""
        self.message_user(request, f"Discarded {count} outbox message{plural}; they will not be sent.")

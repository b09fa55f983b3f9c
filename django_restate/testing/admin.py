"""Mock state and promises in the admin, for looking at what a test or a local run left behind."""

from __future__ import annotations

import json

from django.contrib import admin

from .models import ObjectState, WorkflowPromise


@admin.register(ObjectState)
class ObjectStateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["service", "key", "name", "shown_value"]
    list_filter = ["service"]
    search_fields = ["service", "key", "name"]
    readonly_fields = ["shown_value"]

    @admin.display(description="value")
    def shown_value(self, obj: ObjectState) -> str:
        return json.dumps(obj.decoded, ensure_ascii=False)[:200]


@admin.register(WorkflowPromise)
class WorkflowPromiseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["workflow", "key", "name", "failure_code"]
    list_filter = ["workflow"]
    search_fields = ["workflow", "key", "name"]

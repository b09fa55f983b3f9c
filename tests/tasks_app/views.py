"""A view that reports a task's result, read in the web process from Restate."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from django_restate.tasks.compat import TaskResultDoesNotExist, TaskResultStatus, task_backends


def task_result(request: HttpRequest, result_id: str) -> JsonResponse:
    try:
        result = task_backends["default"].get_result(result_id)
    except TaskResultDoesNotExist:
        return JsonResponse({"status": None}, status=404)
    return JsonResponse(
        {
            "status": result.status,
            "return_value": result.return_value if result.status == TaskResultStatus.SUCCESSFUL else None,
            "worker_ids": result.worker_ids,
            "task": result.task.module_path,
        }
    )

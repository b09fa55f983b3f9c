"""The view the tracing test requests: it calls a handler and waits, and sends one on commit."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from django_restate.client import client

from .restate_services import TracedShop, TracedStock


@csrf_exempt
def order(request: HttpRequest) -> JsonResponse:
    key = json.loads(request.body)["key"]
    count = client.service(TracedShop).order(key)
    return JsonResponse({"count": count})


@csrf_exempt
def order_later(request: HttpRequest) -> JsonResponse:
    """A send on commit (the test has it fail at the commit, and delivers the row later, outside any span)."""
    key = json.loads(request.body)["key"]
    with transaction.atomic():
        pending = client.object(TracedStock, key).reserve.send_on_commit("later")
    return JsonResponse({"message_id": pending.message_id})

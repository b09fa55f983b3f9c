"""Views of the outbox fault tests: an order that starts durable work when it commits, and one whose
process dies right after the COMMIT, before the send."""

from __future__ import annotations

import json
import os
import signal

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from django_restate.client import client
from tests.runtime_app.models import Ticket
from tests.runtime_app.restate_services import Letter, RuntimeMailer


def place(request: HttpRequest, die_after_commit: bool = False) -> JsonResponse:
    tag = json.loads(request.body)["tag"]
    with transaction.atomic():
        ticket = Ticket.objects.create(subject=tag)
        if die_after_commit:
            # on_commit callbacks run in order: this one kills the process before the send's.
            transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        pending = client.service(RuntimeMailer).deliver.send_on_commit(Letter(tag=tag, ticket_id=ticket.pk))
    return JsonResponse({"ticket": ticket.pk, "sent": pending.handle is not None, "error": pending.error})


@csrf_exempt
def order(request: HttpRequest) -> JsonResponse:
    return place(request)


@csrf_exempt
def order_then_die(request: HttpRequest) -> JsonResponse:
    return place(request, die_after_commit=True)


urlpatterns = [path("orders/", order), path("orders/die/", order_then_die)]

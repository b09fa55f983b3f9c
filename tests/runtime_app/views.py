"""A view that starts durable work only if its transaction commits."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from django_restate.client import client

from .models import Ticket
from .restate_services import Letter, RuntimeMailer


@require_POST
def open_ticket(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    key = request.headers.get("Idempotency-Key")  # the client sends the same one when it retries
    deliver = client.service(RuntimeMailer).deliver
    with transaction.atomic():
        ticket = Ticket.objects.create(subject=data["subject"])
        pending = [
            deliver.send_on_commit(Letter(tag=tag, ticket_id=ticket.pk), idempotency_key=key) for tag in data["tags"]
        ]
        if data.get("roll_back"):
            transaction.set_rollback(True)
    sent = [
        {"key": p.idempotency_key, "invocation_id": p.handle.invocation_id, "status": p.handle.status}
        for p in pending
        if p.handle is not None
    ]
    return JsonResponse({"ticket": ticket.pk, "sent": sent})

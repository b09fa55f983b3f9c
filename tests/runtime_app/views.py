"""Views that start durable work: calls, sends, and sends only if their transaction commits."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from django_restate.client import client

from .models import Ticket
from .restate_services import Letter, NoteIn, RuntimeMailer, RuntimeNotebook


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


@require_POST
def write_note(request: HttpRequest) -> JsonResponse:
    """Calls a handler and waits, sends to one, and sends to another only if its transaction commits:
    the three ways a view starts durable work (tested with the mock and end to end)."""
    data = json.loads(request.body)
    notebook = client.object(RuntimeNotebook, data["key"])
    written = notebook.write(NoteIn(text=data["text"]))  # waits for the handler's result
    later = notebook.write.send(NoteIn(text=data["text"] + " (sent)"))  # runs in the background
    with transaction.atomic():
        ticket = Ticket.objects.create(subject=data["text"])
        pending = client.service(RuntimeMailer).deliver.send_on_commit(
            Letter(tag=data["tag"], ticket_id=ticket.pk), idempotency_key=request.headers.get("Idempotency-Key")
        )
        if data.get("roll_back"):
            transaction.set_rollback(True)
    return JsonResponse(
        {"count": written.count, "sent": later.invocation_id, "ticket": ticket.pk, "key": pending.idempotency_key}
    )


@require_POST
async def awrite_note(request: HttpRequest) -> JsonResponse:
    """The async twins in an async view: ``acall`` and ``asend``, and the typed spelling."""
    data = json.loads(request.body)
    written = await client.acall(RuntimeNotebook.awrite, NoteIn(text=data["text"]), key=data["key"])
    later = await client.asend(RuntimeNotebook.write, NoteIn(text=data["text"] + " (sent)"), key=data["key"])
    return JsonResponse({"count": written.count, "sent": later.invocation_id})

"""Handlers for the runtime and client tests: they read and write models in every way a
handler can (sync ORM in durable steps, async ORM in the handler, an atomic step)."""

from __future__ import annotations

import asyncio
import threading

import restate
from django.db.models import F
from pydantic import BaseModel, Field
from restate.exceptions import TerminalError

from django_restate import Service, VirtualObject, Workflow
from django_restate.runtime import atomic_step

from .models import Account, Delivery, Note


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


class NoteOut(BaseModel):
    id: int
    key: str
    text: str
    count: int


class RuntimeNotebook(VirtualObject):
    """Notes per key, written with the sync ORM in a step or with the async ORM in the handler."""

    async def write(self, ctx: restate.ObjectContext, note: NoteIn) -> NoteOut:
        return await ctx.run_typed("write note", write_note, key=ctx.key(), text=note.text)

    async def awrite(self, ctx: restate.ObjectContext, note: NoteIn) -> NoteOut:
        row = await Note.objects.acreate(key=ctx.key(), text=note.text, via="async")
        count = await Note.objects.filter(key=ctx.key()).acount()
        return NoteOut(id=row.pk, key=row.key, text=row.text, count=count)

    async def touch(self, ctx: restate.ObjectContext) -> int:
        """One async ORM read and one sync ORM write: what the connection-count test repeats.

        The read is outside a step, so it runs again on every replay and is only fit for
        things that need not be durable; the count returned comes from the journaled step.
        """
        await Note.objects.filter(key=ctx.key()).aexists()
        note = await ctx.run_typed("write", write_note, key=ctx.key(), text="touch")
        return note.count

    async def count(self, ctx: restate.ObjectSharedContext) -> int:
        return await Note.objects.filter(key=ctx.key()).acount()

    async def header(self, ctx: restate.ObjectSharedContext, name: str) -> str | None:
        return ctx.request().headers.get(name)

    async def refuse(self, ctx: restate.ObjectContext, code: int) -> None:
        raise TerminalError(f"refused with {code}", status_code=code)


def write_note(key: str, text: str) -> NoteOut:
    row = Note.objects.create(key=key, text=text, via="sync")
    return NoteOut(id=row.pk, key=key, text=text, count=Note.objects.filter(key=key).count())


class Transfer(BaseModel):
    source: str
    target: str
    amount: int = Field(gt=0)


class RuntimeBank(Service):
    """Moves money between accounts in one database transaction per durable step."""

    async def transfer(self, ctx: restate.Context, transfer: Transfer) -> int:
        return await ctx.run_typed(
            "transfer", move_money, source=transfer.source, target=transfer.target, amount=transfer.amount
        )


@atomic_step(using="default")
def move_money(source: str, target: str, amount: int) -> int:
    Account.objects.filter(name=source).update(balance=F("balance") - amount)
    Account.objects.filter(name=target).update(balance=F("balance") + amount)
    left = Account.objects.get(name=source).balance
    if left < 0:
        # Both updates above already ran: the atomic step must roll them back.
        raise TerminalError(f"{source} cannot pay {amount}", status_code=409)
    return left


class Letter(BaseModel):
    tag: str
    ticket_id: int


class RuntimeMailer(Service):
    """Started by a view with send_on_commit; records every real delivery."""

    async def deliver(self, ctx: restate.Context, letter: Letter) -> str:
        await ctx.run_typed("deliver", record_delivery, tag=letter.tag, ticket_id=letter.ticket_id)
        return f"delivered {letter.tag}"


def record_delivery(tag: str, ticket_id: int) -> None:
    Delivery.objects.create(tag=tag, ticket_id=ticket_id)


class ApprovalRequest(BaseModel):
    title: str


class ApprovalResult(BaseModel):
    title: str
    approved: bool


class RuntimeApproval(Workflow):
    """Waits for a decision, then answers with it."""

    async def run(self, ctx: restate.WorkflowContext, request: ApprovalRequest) -> ApprovalResult:
        ctx.set("status", "waiting")
        approved = await ctx.promise("decision", type_hint=bool).value()
        ctx.set("status", "decided")
        return ApprovalResult(title=request.title, approved=approved)

    async def decide(self, ctx: restate.WorkflowSharedContext, approved: bool) -> None:
        await ctx.promise("decision", type_hint=bool).resolve(approved)

    async def status(self, ctx: restate.WorkflowSharedContext) -> str:
        return await ctx.get("status") or "not started"


#: What lets RuntimeGate.hold return, by gate name: the live server runs in the test's process.
GATES: dict[str, threading.Event] = {}


class RuntimeGate(Service):
    """Keeps its invocation attempt running until the test opens the gate (at most 30 s)."""

    async def hold(self, ctx: restate.Context, gate: str) -> bool:
        return await asyncio.to_thread(GATES.setdefault(gate, threading.Event()).wait, 30)

"""What wraps every invocation: database connection hygiene (also in the SDK's step threads),
atomic steps, and the invocation signals. End-to-end parts run against a real restate-server."""

from __future__ import annotations

import asyncio
import inspect
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from restate.exceptions import SuspendedException, TerminalError

from django_restate import runtime, signals
from django_restate.client import client
from django_restate.exceptions import HandlerError
from django_restate.testing import eventually
from tests.runtime_app.models import Account, Note
from tests.runtime_app.restate_services import (
    ApprovalRequest,
    NoteIn,
    RuntimeApproval,
    RuntimeBank,
    RuntimeNotebook,
    Transfer,
    move_money,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- connections -------------------------------------------------------------------------------


def thread_has_open_connection() -> bool:
    return connection.connection is not None


def open_a_connection() -> int:
    return Note.objects.count()


@pytest.mark.django_db(transaction=True)
def test_step_threads_close_their_connections():
    """A sync ctx.run action runs in the loop's default executor; its connection must not outlive it."""

    async def main():
        runtime.prepare_loop(asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        executor = loop._default_executor  # the SDK calls run_in_executor(None, ...)
        assert isinstance(executor, runtime.StepExecutor)
        threads, open_inside = set(), []

        def step():
            open_a_connection()
            open_inside.append(thread_has_open_connection())
            threads.add(threading.get_ident())

        for _ in range(20):
            await loop.run_in_executor(None, step)
        still_open = [await loop.run_in_executor(None, thread_has_open_connection) for _ in range(20)]
        return open_inside, still_open, threads

    open_inside, still_open, threads = asyncio.run(main())
    assert all(open_inside)  # the step really used the database
    assert not any(still_open)  # ...and no pool thread kept its connection
    assert threads


@pytest.mark.django_db(transaction=True)
def test_step_threads_keep_persistent_connections_when_asked():
    """With CONN_MAX_AGE > 0 a step thread reuses its connection, as a Django worker thread does."""
    executor = runtime.StepExecutor(max_workers=1)
    connection.settings_dict["CONN_MAX_AGE"] = 60
    try:
        executor.submit(open_a_connection).result()
        first = executor.submit(lambda: id(connection.connection)).result()
        executor.submit(open_a_connection).result()
        assert executor.submit(lambda: id(connection.connection)).result() == first
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = 0
        executor.submit(lambda: connection.close()).result()
        executor.shutdown()


def test_prepare_loop_once_per_loop():
    async def main():
        loop = asyncio.get_running_loop()
        runtime.prepare_loop(loop)
        first = loop._default_executor
        runtime.prepare_loop(loop)
        return first, loop._default_executor

    first, second = asyncio.run(main())
    assert first is second


@pytest.mark.django_db(transaction=True)
def test_invocation_closes_the_async_orm_connection():
    """Async ORM calls share asgiref's thread-sensitive thread: the invocation closes its connection."""

    async def main():
        async with runtime.django_connections():
            await Note.objects.acount()
            inside = await sync_to_async(thread_has_open_connection)()
        after = await sync_to_async(thread_has_open_connection)()
        return inside, after

    assert asyncio.run(main()) == (True, False)


@pytest.mark.e2e
def test_handlers_use_sync_and_async_orm(restate_live):
    key = unique("orm")
    notebook = client.object(RuntimeNotebook, key)
    assert notebook.write(NoteIn(text="from a step")).count == 1
    assert notebook.awrite(NoteIn(text="async orm")).count == 2
    assert notebook.touch() == 3
    assert notebook.count() == 3
    assert sorted(Note.objects.filter(key=key).values_list("via", flat=True)) == ["async", "sync", "sync"]


# -- atomic steps ------------------------------------------------------------------------------


@pytest.mark.e2e
def test_atomic_step_commits(restate_live):
    a, b = unique("a"), unique("b")
    Account.objects.bulk_create([Account(name=a, balance=10), Account(name=b, balance=0)])
    assert client.service(RuntimeBank).transfer(Transfer(source=a, target=b, amount=4)) == 6
    assert dict(Account.objects.filter(name__in=[a, b]).values_list("name", "balance")) == {a: 6, b: 4}


@pytest.mark.e2e
def test_atomic_step_rolls_back_on_terminal_error(restate_live):
    a, b = unique("a"), unique("b")
    Account.objects.bulk_create([Account(name=a, balance=10), Account(name=b, balance=0)])
    with pytest.raises(HandlerError) as raised:
        client.service(RuntimeBank).transfer(Transfer(source=a, target=b, amount=11))
    assert raised.value.status_code == 409
    # Both UPDATEs ran before the error; the step's transaction undid them.
    assert dict(Account.objects.filter(name__in=[a, b]).values_list("name", "balance")) == {a: 10, b: 0}


@pytest.mark.django_db(transaction=True)
def test_atomic_step_is_one_transaction_on_the_chosen_alias():
    seen = []

    @runtime.atomic_step(using="default")
    def step(x: int) -> int:
        seen.append(transaction.get_connection("default").in_atomic_block)
        return x * 2

    @runtime.atomic_step
    def bare(x: int) -> int:
        seen.append(transaction.get_connection().in_atomic_block)
        return x

    assert (step(2), bare(3)) == (4, 3)
    assert seen == [True, True]
    # The SDK infers the step's serde from the return annotation: it must survive the wrapper.
    assert inspect.signature(move_money, eval_str=True).return_annotation is int


def test_atomic_step_refuses_coroutines():
    with pytest.raises(TypeError, match="cannot span awaits"):

        @runtime.atomic_step
        async def step() -> None: ...


# -- signals -----------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def record(self, name: str, kwargs: dict) -> None:
        with self.lock:
            self.events.append((name, kwargs))

    def for_key(self, key: str) -> list[tuple[str, dict]]:
        with self.lock:
            return [(n, k) for n, k in self.events if k["key"] == key]


@pytest.fixture
def recorded():
    recorder = Recorder()

    def started(sender, **kwargs):
        recorder.record("started", {"sender": sender, **kwargs})

    async def finished(sender, **kwargs):  # async receivers work too
        recorder.record("finished", {"sender": sender, **kwargs})

    def failed(sender, **kwargs):
        recorder.record("failed", {"sender": sender, **kwargs})

    def broken(sender, **kwargs):
        raise RuntimeError("a metrics backend that is down")

    signals.invocation_started.connect(started)
    signals.invocation_finished.connect(finished)
    signals.invocation_failed.connect(failed)
    signals.invocation_started.connect(broken)
    try:
        yield recorder
    finally:
        signals.invocation_started.disconnect(started)
        signals.invocation_finished.disconnect(finished)
        signals.invocation_failed.disconnect(failed)
        signals.invocation_started.disconnect(broken)


@pytest.mark.e2e
def test_signals_around_a_successful_invocation(restate_live, recorded):
    key = unique("signals")
    client.object(RuntimeNotebook, key).write(NoteIn(text="x"))  # a receiver raising does not fail it
    events = recorded.for_key(key)
    names = [name for name, _ in events]
    # One started/finished pair per attempt; a step may end an attempt with a suspension.
    assert names[0::2] == ["started"] * (len(names) // 2)
    assert names[1::2] == ["finished"] * (len(names) // 2)
    last = events[-1][1]
    assert last["suspended"] is False
    assert last["sender"] is RuntimeNotebook
    assert (last["service"], last["handler"]) == ("RuntimeNotebook", "write")
    assert last["invocation_id"].startswith("inv_")
    assert last["duration"] >= 0
    assert all(kwargs["suspended"] for name, kwargs in events[:-1] if name == "finished")


@pytest.mark.e2e
def test_signals_around_a_terminal_failure(restate_live, recorded):
    key = unique("signals")
    with pytest.raises(HandlerError):
        client.object(RuntimeNotebook, key).refuse(418)
    (started, failed) = recorded.for_key(key)
    assert (started[0], failed[0]) == ("started", "failed")
    assert failed[1]["terminal"] is True
    assert isinstance(failed[1]["exception"], TerminalError)
    assert failed[1]["exception"].status_code == 418


@pytest.mark.e2e
def test_signals_report_suspension(restate_live, recorded):
    wf_id = unique("signals")
    approval = client.workflow(RuntimeApproval, wf_id)
    approval.run.submit(ApprovalRequest(title="t"))

    def run_finished() -> list[dict]:
        finished = [kw for name, kw in recorded.for_key(wf_id) if name == "finished" and kw["handler"] == "run"]
        assert finished, "the workflow's run has not reported finished yet"
        return finished

    finished = eventually(run_finished, 20)
    assert finished[0]["suspended"] is True  # waiting for the decision promise
    approval.decide(True)
    approval.run.attach()
    runs = [(name, kw) for name, kw in recorded.for_key(wf_id) if kw["handler"] == "run"]
    assert runs[-1][0] == "finished" and runs[-1][1]["suspended"] is False
    assert runs[-2][1]["replaying"] is True  # the resumed attempt replays the journal


def run_signals_cm(body_error: BaseException | None, monkeypatch) -> list[tuple[str, dict]]:
    """Drive the signals context manager around a body that raises ``body_error``."""
    monkeypatch.setattr(
        runtime,
        "_describe_current_invocation",
        lambda: (RuntimeNotebook, {"service": "S", "handler": "h", "key": "k", "invocation_id": "i", "replaying": 0}),
    )
    seen: list[tuple[str, dict]] = []

    def on_finished(sender, **kw):
        seen.append(("finished", kw))

    def on_failed(sender, **kw):
        seen.append(("failed", kw))

    signals.invocation_finished.connect(on_finished, sender=RuntimeNotebook)
    signals.invocation_failed.connect(on_failed, sender=RuntimeNotebook)

    async def main():
        async with runtime.invocation_signals():
            if body_error is not None:
                raise body_error

    try:
        asyncio.run(main())
    except BaseException as exc:
        assert exc is body_error
    finally:
        signals.invocation_finished.disconnect(on_finished, sender=RuntimeNotebook)
        signals.invocation_failed.disconnect(on_failed, sender=RuntimeNotebook)
    return seen


def test_retryable_failure_is_not_terminal(monkeypatch):
    ((name, kw),) = run_signals_cm(ValueError("flaky"), monkeypatch)
    assert (name, kw["terminal"]) == ("failed", False)


def test_failure_caused_by_a_terminal_error_is_terminal(monkeypatch):
    try:
        try:
            raise TerminalError("no")
        except TerminalError as exc:
            raise ValueError("wrapped") from exc
    except ValueError as wrapped:
        error = wrapped
    ((name, kw),) = run_signals_cm(error, monkeypatch)
    assert (name, kw["terminal"]) == ("failed", True)


def test_suspension_is_a_finished_attempt(monkeypatch):
    ((name, kw),) = run_signals_cm(SuspendedException(), monkeypatch)
    assert (name, kw["suspended"]) == ("finished", True)


def test_signals_cost_nothing_without_receivers(monkeypatch):
    def explode():
        raise AssertionError("built a payload nobody listens to")

    monkeypatch.setattr(runtime, "_describe_current_invocation", explode)
    assert not any(s.receivers for s in (signals.invocation_started, signals.invocation_finished))

    async def main():
        async with runtime.invocation_signals():
            return "ran"

    asyncio.run(main())

"""Django requests served by ``get_asgi_application()`` keep Django's rule, a thread of their own
for their sync code, from a pool of reused threads instead of a new thread (and a joining one)
per request (:mod:`django_restate.request_threads`)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from django_restate.asgi import get_asgi_application
from django_restate.conf import restate_settings
from tests.test_asgi import call, http

both_inside = threading.Barrier(2, timeout=10)
released = threading.Event()


def which_thread(request: HttpRequest) -> HttpResponse:
    return HttpResponse(threading.current_thread().name)


def meet(request: HttpRequest) -> HttpResponse:
    both_inside.wait()  # returns only when two requests are inside at once
    return HttpResponse(threading.current_thread().name)


def wait_for_release(request: HttpRequest) -> HttpResponse:
    released.wait(10)
    return HttpResponse("released")


urlpatterns = [path("thread", which_thread), path("meet", meet), path("wait", wait_for_release)]
pytestmark = pytest.mark.urls(__name__)


def names(app, paths: list[str]) -> list[str]:
    async def run() -> list[str]:
        return [(await call(app, http(p)))[1].decode() for p in paths]

    return asyncio.run(run())


def test_one_request_after_another_runs_in_the_same_thread():
    app = get_asgi_application()
    first, second, third = names(app, ["/thread", "/thread", "/thread"])
    assert first.startswith("django-request")
    assert first == second == third


def test_requests_in_flight_at_once_each_have_a_thread_of_their_own():
    app = get_asgi_application()

    async def run() -> list[str]:
        answers = await asyncio.gather(call(app, http("/meet")), call(app, http("/meet")))
        return [body.decode() for _, body in answers]

    first, second = asyncio.run(run())  # sharing one thread, the two would never meet
    assert first != second
    assert app.request_threads.idle() == 2


def test_no_thread_is_started_per_request(monkeypatch):
    app = get_asgi_application()
    names(app, ["/thread"])
    started: list[str] = []
    start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    names(app, ["/thread"] * 20)
    assert started == []


def test_off_it_is_djangos_own_thread_per_request():
    app = get_asgi_application()
    with override_settings(RESTATE={"REUSE_REQUEST_THREADS": False}):
        assert restate_settings.REUSE_REQUEST_THREADS is False
        first, second = names(app, ["/thread", "/thread"])
    assert not first.startswith("django-request") and first != second  # ThreadPoolExecutor-N_0, a new N each time


def test_a_request_cut_off_does_not_lend_its_busy_thread_to_the_next():
    app = get_asgi_application()
    released.clear()

    async def run() -> str:
        cut_off = asyncio.ensure_future(call(app, http("/wait")))
        await asyncio.sleep(0.3)  # inside the view, its thread blocked
        cut_off.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cut_off
        assert app.request_threads.idle() == 0  # not given back while it may still run
        _, body = await call(app, http("/thread"))  # a new thread: the old one is still busy
        released.set()
        return body.decode()

    try:
        assert asyncio.run(run()).startswith("django-request")
    finally:
        released.set()

"""The pytest plugin, run in pytest sessions of its own (pytester): fixtures, markers, options, and
the UsageError a misuse gets."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from django_restate.testing.server import find_binary

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest project that uses this repository's test settings, with its own test database."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), str(ROOT)]))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    url = os.environ.get("DATABASE_URL")
    if url:  # never share (and so destroy) the outer session's test database
        parts = urlsplit(url)
        monkeypatch.setenv("DATABASE_URL", urlunsplit(parts._replace(path=parts.path + "_pytester")))
    return pytester


def test_markers_are_registered_with_their_signature(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.restate_parity(backends=('mock', 'real')): run the test once per backend*",
            "@pytest.mark.restate_mock(replay_check=False, max_attempts=5, start_time=None): options*",
        ]
    )


def test_options_are_documented(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--restate-backend=*", "*--restate-replay-check*"])


def test_fixtures_are_documented(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "restate_mock -- *",
            "*Handler classes run in-process by the mock*",
            "restate_backend -- *",
            "*The mock or a real restate-server*",
        ]
    )


def test_mock_fixture_rolls_back_and_takes_options(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_cart="""
        import pytest
        from demo_project.shop.models import Product
        from demo_project.shop.restate_services import Cart, CartItem, Greeter
        from django_restate.testing.models import ObjectState

        @pytest.fixture
        def tea(db):
            Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)

        def test_first(restate_mock, tea):
            assert restate_mock.object(Cart, "alice").add_item(CartItem(sku="tea", quantity=2)) == 2
            assert ObjectState.objects.count() == 1
            assert restate_mock.engine.replay_check is False

        def test_second_sees_nothing(restate_mock):
            assert ObjectState.objects.count() == 0

        @pytest.mark.restate_mock(replay_check=True, start_time=0.0)
        def test_options(restate_mock):
            assert restate_mock.engine.replay_check is True
            assert restate_mock.now == 0.0

        @pytest.mark.restate_mock(replay=True)
        def test_unknown_option(restate_mock):
            pass

        def test_both_backends(restate_backend):
            assert restate_backend.service(Greeter).greet("Ada") == "Hello, Ada! (3 letters)"
        """
    )
    result = project.runpytest_subprocess("-v", "--restate-backend=mock", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    result.stdout.fnmatch_lines(
        [
            "*test_first PASSED*",
            "*test_second_sees_nothing PASSED*",
            "*test_options PASSED*",
            "*test_unknown_option ERROR*",
            "*test_both_backends?mock? PASSED*",
        ]
    )
    result.stdout.no_fnmatch_line("*test_both_backends?real?*")
    result.stdout.fnmatch_lines(["*restate_mock does not take replay; its options are replay_check*"])
    assert outcomes["passed"] == 4


def test_missing_server_binary_says_how_to_install_it(project: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("RESTATE_SERVER_BIN", "/nonexistent/restate-server")
    project.makepyfile(test_server="def test_server(restate_server):\n    pass\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*RESTATE_SERVER_BIN=/nonexistent/restate-server does not exist*npm ci*"])
    assert result.ret != 0


def test_mock_without_the_testing_app(project: pytest.Pytester, monkeypatch) -> None:
    project.makepyfile(
        settings_without_app="""
        from tests.settings import *
        INSTALLED_APPS = [a for a in INSTALLED_APPS if a != "django_restate.testing"]
        """,
        test_mock="def test_mock(restate_mock):\n    pass\n",
    )
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "settings_without_app")
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(['*add "django_restate.testing" to INSTALLED_APPS*'])
    assert result.ret != 0


@pytest.mark.parametrize(
    ("source", "args", "message"),
    [
        (
            "import pytest\n@pytest.mark.restate_parity\ndef test_x():\n    pass\n",
            (),
            "test_x is marked restate_parity but does not use the restate_backend fixture",
        ),
        (
            "import pytest\n@pytest.mark.restate_parity(backends=['mock', 'fake'])\n"
            "def test_x(restate_backend):\n    pass\n",
            (),
            "restate_parity backends must be among mock and real, not ['mock', 'fake']",
        ),
        ("def test_x():\n    pass\n", ("--restate-backend=both-ways",), "--restate-backend must be mock, real or both"),
    ],
    ids=["marker-without-fixture", "unknown-backend", "bad-option"],
)
def test_misuse_is_a_usage_error(project: pytest.Pytester, source: str, args: tuple[str, ...], message: str) -> None:
    project.makepyfile(test_misuse=source)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *args)
    # A UsageError from pytest_configure ends the session (exit 4); from collection it is reported
    # as a collection error that interrupts the session (exit 2). Either way nothing runs.
    assert result.ret in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERRUPTED)
    assert message in "\n".join(result.outlines + result.errlines)


def test_plugin_import_does_not_configure_django() -> None:
    code = textwrap.dedent(
        """
        import django_restate.pytest_plugin
        from django.conf import settings
        assert not settings.configured, "importing the plugin configured Django"
        print("lazy")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "lazy", done.stderr


def test_the_marker_is_checked_by_its_signature(project: pytest.Pytester) -> None:
    """The marker takes what ``mock_options`` takes, positionally too; Python names what is wrong."""
    project.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.restate_mock(True, 2, 0.0)
        def test_positional(restate_mock):
            assert restate_mock.engine.replay_check is True
            assert restate_mock.engine.max_attempts == 2
            assert restate_mock.now == 0.0

        def test_defaults(restate_mock):
            assert restate_mock.engine.max_attempts == 5

        @pytest.mark.restate_mock(True, 2, 0.0, "one too many")
        def test_too_many(restate_mock):
            pass
        """
    )
    result = project.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_positional PASSED*", "*test_defaults PASSED*", "*test_too_many ERROR*"])
    result.stdout.fnmatch_lines(["*restate_mock does not take *positional arguments*its options are replay_check*"])
    assert result.parseoutcomes()["passed"] == 2


def test_fixtures_that_need_pytest_django_say_so(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_live="def test_live(restate_live_server):\n    pass\n",
        test_mock="def test_mock(restate_mock):\n    pass\n",
    )
    result = project.runpytest_subprocess("-p", "no:django", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*restate_live_server need pytest-django (for its django_db_setup fixture): pip install pytest-django*",
            "*restate_live_server need pytest-django (for its db fixture)*",
        ],
        consecutive=False,
    )
    assert result.ret != 0


@pytest.mark.e2e
def test_the_live_server_is_registered_at_the_configured_endpoint_path(project: pytest.Pytester, monkeypatch) -> None:
    """A project that serves Restate under its own ENDPOINT_PATH gets registered there, so calls work."""
    project.makepyfile(
        settings_api_path="""
        from tests.settings import *
        RESTATE = {**RESTATE, "ENDPOINT_PATH": "/api/restate/"}
        """,
        test_live="""
        import httpx

        def test_live(restate_live):
            assert restate_live.deployment_url == restate_live.django.url + "/api/restate"
            assert httpx.get(restate_live.deployment_url + "/health", timeout=10).status_code == 200
            greeted = httpx.post(f"{restate_live.ingress_url}/Greeter/greet", json="Ada", timeout=30)
            assert greeted.json() == "Hello, Ada! (3 letters)", greeted.text
        """,
    )
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "settings_api_path")
    monkeypatch.setenv("RESTATE_SERVER_BIN", find_binary(ROOT))  # pytester runs in a directory of its own
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.e2e
def test_the_replay_check_flag_puts_the_real_server_in_always_replay_mode(project: pytest.Pytester, monkeypatch):
    """--restate-replay-check starts restate_server with the SDK harness's always_replay setting (and
    the server runs with it). Over HTTP/1.1, as the uvicorn of restate_live_server serves, Restate
    drives the endpoint request-response and replays at every suspension anyway: the probe's code
    outside ctx.run runs again after its sleep either way."""
    project.makepyfile(
        test_replay="""
        from datetime import timedelta

        import httpx
        import restate

        from django_restate import Service, registry

        RUNS = []


        class ReplayProbe(Service):
            async def probe(self, ctx: restate.Context) -> int:
                RUNS.append(1)  # outside ctx.run on purpose: it runs again on every replay
                await ctx.sleep(timedelta(milliseconds=10))
                return len(RUNS)


        registry.register(ReplayProbe)


        def test_probe(restate_live, request):
            timeout = restate_live.server.extra_env.get("RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT")
            assert timeout == ("0s" if request.config.getoption("--restate-replay-check") else None)
            runs = httpx.post(f"{restate_live.ingress_url}/ReplayProbe/probe", json=None, timeout=60).json()
            assert runs >= 2, runs
        """
    )
    monkeypatch.setenv("RESTATE_SERVER_BIN", find_binary(ROOT))
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    project.runpytest_subprocess("-p", "no:cacheprovider", "--restate-replay-check").assert_outcomes(passed=1)


@pytest.mark.e2e
def test_restate_live_kills_what_a_test_left_unfinished(project: pytest.Pytester, monkeypatch) -> None:
    """A delayed send left by one test is killed when it ends (it would run into a later test's
    database); with keep_invocations = True it is left scheduled."""
    project.makepyfile(
        test_leftovers="""
        from demo_project.shop.restate_services import Greeter
        from django_restate.admin_api.sql import quote
        from django_restate.client import client

        LEFT = {}

        def status(live, invocation_id):
            rows = live.admin.query(f"SELECT status FROM sys_invocation WHERE id = {quote(invocation_id)}")
            return [row["status"] for row in rows]

        def test_leaves_one(restate_live):
            LEFT["killed"] = client.service(Greeter).greet.send("later", delay=600).invocation_id
            assert status(restate_live, LEFT["killed"]) == ["scheduled"]

        def test_it_was_killed_and_this_one_is_kept(restate_live):
            assert status(restate_live, LEFT["killed"]) in ([], ["completed"])  # killed: gone, or completed
            restate_live.keep_invocations = True
            LEFT["kept"] = client.service(Greeter).greet.send("later", delay=600).invocation_id

        def test_the_kept_one_is_still_scheduled(restate_live):
            assert status(restate_live, LEFT["kept"]) == ["scheduled"]
        """,
    )
    monkeypatch.setenv("RESTATE_SERVER_BIN", find_binary(ROOT))
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=3)


class _Admin:
    """Just the two admin calls kill_invocations_since makes, answering as told."""

    def __init__(self, unfinished: list[str], finished_meanwhile: set[str]) -> None:
        self.unfinished, self.finished_meanwhile, self.killed = unfinished, finished_meanwhile, []

    def query(self, sql: str) -> list[dict[str, str]]:
        return [{"id": invocation_id} for invocation_id in self.unfinished]

    def invocation_action(self, invocation_id: str, action: str) -> None:
        from django_restate.exceptions import AdminAPIError

        if invocation_id in self.finished_meanwhile:
            raise AdminAPIError("PATCH", f"/invocations/{invocation_id}/kill", 404, "not found")
        self.killed.append((invocation_id, action))


def test_only_new_leftovers_are_killed_and_one_that_finished_meanwhile_is_passed_over() -> None:
    from django_restate.pytest_plugin import LiveRestate

    admin = _Admin(["inv_old", "inv_new", "inv_done"], finished_meanwhile={"inv_done"})
    live = LiveRestate(server=None, django=None, admin=admin)  # type: ignore[arg-type]
    assert live.kill_invocations_since({"inv_old"}) == ["inv_new"]
    assert admin.killed == [("inv_new", "kill")]


def test_a_server_that_no_longer_answers_is_a_warning_not_an_error() -> None:
    from django_restate.admin_api import AdminAPI
    from django_restate.pytest_plugin import LiveRestate, _kill_leftovers
    from django_restate.testing.server import free_port

    with AdminAPI(f"http://127.0.0.1:{free_port()}") as admin:
        live = LiveRestate(server=None, django=None, admin=admin)  # type: ignore[arg-type]
        with pytest.warns(UserWarning, match="restate_live could not kill the invocations this test left"):
            _kill_leftovers(live, set())

"""The demo as a new user meets it: Django started with the very command ``scripts/demo`` runs
(granian, not pytest-django's live_server, which serves static files by itself), its admin
styled by the stylesheet that server serves, and the demo's settings safe."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from selenium.webdriver.common.by import By

from django_restate.testing.server import kill_group
from tests import browser as browsers
from tests.browser import element, log_in, screenshot

browser = browsers.browser
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scripts" / "demo"
#: Django's admin header colour (--header-bg in admin/css/base.css): only there when the CSS loaded.
ADMIN_HEADER_BG = "rgba(65, 118, 144, 1)"  # as value_of_css_property spells it


def demo_command(name: str) -> list[str]:
    """One line of scripts/demo (``manage.py <name>`` or the ASGI server), as this test must run it."""
    what = "-m granian" if name == "server" else f"manage.py {name}"
    found = re.search(rf"^\.venv/bin/python {re.escape(what)}\b.*$", DEMO.read_text(), re.M)
    assert found, f"scripts/demo no longer runs {what}"
    return [sys.executable, *(part for part in shlex.split(found[0])[1:] if part != "&")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["1", "0"], ids=["debug", "no-debug"])
def demo_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimpleNamespace]:
    """The demo's Django as scripts/demo starts it, with DEBUG on (its default) and off."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))},
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "DJANGO_DEBUG": request.param,
        "DEMO_SQLITE": str(tmp_path / "demo.sqlite3"),
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("migrate", "seed_demo", "collectstatic"):
        subprocess.run(demo_command(name), cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    command = [part.replace("$DJANGO_PORT", str(port)) for part in demo_command("server")]
    # A session of its own, so that a server that ignores SIGTERM is killed with its worker below.
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/admin/login/", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else "it exited"
                assert time.monotonic() < deadline, "the demo's server did not start"
                time.sleep(0.1)
        yield SimpleNamespace(url=url, debug=request.param == "1")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_group(server)  # never leave the server and its worker behind
            raise AssertionError("the demo's server did not stop within 20 s of SIGTERM") from None


@pytest.mark.browser
def test_the_demo_admin_is_styled_when_served_as_scripts_demo_serves_it(demo_server, browser):
    log_in(browser, demo_server.url, "admin", "admin", next_path="/admin/django_restate/registeredservice/")
    element(browser, "#content-main", url_has="/admin/django_restate/registeredservice/")
    header = browser.find_element(By.ID, "header")
    assert header.value_of_css_property("background-color") == ADMIN_HEADER_BG
    # The Restate pages' own stylesheet links (changelists.css) load too.
    sheets = browser.execute_script("return [...document.styleSheets].map(s => s.href || '')")
    changelists = [href for href in sheets if "changelists" in href]
    assert changelists and httpx.get(changelists[0]).status_code == 200
    screenshot(browser, "demo-admin-debug" if demo_server.debug else "demo-admin")
    # And the demo's pages refuse to be framed by other sites (XFrameOptionsMiddleware).
    assert httpx.get(demo_server.url + "/admin/login/").headers["x-frame-options"] == "DENY"


def test_the_demo_key_is_not_a_published_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    code = "from demo_project import settings as s; print(s.SECRET_KEY, s.DEBUG, s.TIME_ZONE)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    key, debug, zone = out.stdout.split()
    assert key not in DEMO.read_text() and key not in (ROOT / "demo_project" / "settings.py").read_text()
    assert len(key) >= 50 and debug == "False" and zone == "UTC"
    env["DJANGO_SECRET_KEY"], env["DJANGO_TIME_ZONE"] = "from-the-environment", "Europe/Berlin"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["from-the-environment", "False", "Europe/Berlin"]

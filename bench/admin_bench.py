"""Admin page times with 1k and 100k Virtual Object instances, side by side, in one run.

    .venv/bin/python -m bench.admin_bench                 # 1,000 and 100,000 instances
    .venv/bin/python -m bench.admin_bench --sizes 1000,10000 --repeats 20

A real restate-server is started, and a Django project (configured here, with one
small Virtual Object) is served by uvicorn in a child process and registered. State
is created through the real server: concurrent ingress ``/send`` calls from a
bounded async client, one invocation per instance (two state keys each), so
Restate also holds one completed invocation per instance. The first size is
measured, then the instances are topped up to the next size and measured again.

Each admin page is loaded in-process with Django's test client as a logged-in
superuser (view + live /query + template), warmed up, then timed ``--repeats``
times; the table shows p50 (and p90). Target: the 100k page within 1.5x of the
1k page and under 300 ms p50. Not a test: timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import restate

from django_restate import VirtualObject
from django_restate.testing import eventually
from django_restate.testing.server import wait_for_http

SERVICE = "BenchCart"
JOURNAL_ENTRIES = 1000
ROOT = Path(__file__).resolve().parent.parent


class BenchCart(VirtualObject):
    """One instance per key, with two state entries, like a small shopping cart."""

    class Meta:
        name = SERVICE

    async def fill(self, ctx: restate.ObjectContext, n: int) -> None:
        ctx.set("items", {"sku-1": n % 7 + 1, "sku-2": 1})
        ctx.set("owner", f"customer {n}")

    async def long_journal(self, ctx: restate.ObjectContext, runs: int) -> int:
        """A journal of 1,000 entries: input, ``runs`` steps with their completions, state sets, output."""
        for i in range(runs):
            await ctx.run_typed(f"step {i}", echo, value=i)
        for i in range(JOURNAL_ENTRIES - 2 - 2 * runs):
            ctx.set(f"k{i % 10}", i)
        return runs


def echo(value: int) -> int:
    return value


def configure(database: str, restate: dict[str, str]) -> None:
    """A minimal admin project: the pages read live from Restate, the database holds users."""
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_restate.apps.SimpleRestateConfig",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF="bench.admin_bench",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}},
        USE_TZ=True,
        STATIC_URL="static/",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        RESTATE=restate,
    )
    import django

    django.setup()
    from django_restate.registry import registry

    registry.register(BenchCart)


def __getattr__(name: str) -> Any:
    # ROOT_URLCONF: built on first use, once Django is set up.
    if name == "urlpatterns":
        from django.contrib import admin
        from django.urls import path

        return [path("admin/", admin.site.urls)]
    raise AttributeError(name)


# -- the deployment, in a child process --------------------------------------------------------


def serve(port: int, database: str) -> None:
    import uvicorn

    configure(database, {})
    from django_restate.asgi import get_asgi_application

    uvicorn.run(get_asgi_application(), host="127.0.0.1", port=port, log_level="warning", lifespan="on")


def start_deployment(port: int, database: str) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.admin_bench", "--serve", str(port), "--database", database],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/restate/health", process=child)
    except (RuntimeError, TimeoutError):
        child.kill()
        raise
    return child


# -- creating instances through the real server ------------------------------------------------


async def create_instances(ingress: str, start: int, stop: int, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=ingress, timeout=120, limits=limits) as client:

        async def one(n: int) -> None:
            async with limit:
                response = await client.post(f"/{SERVICE}/cart-{n:07d}/fill/send", json=n)
                response.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(start, stop)))


def wait_for_state(api: Any, instances: int, timeout: float = 1800) -> None:
    def filled() -> None:
        rows = api.query(f"SELECT COUNT(*) AS n FROM state WHERE service_name = '{SERVICE}'")
        assert rows[0]["n"] >= 2 * instances, f"only {rows[0]['n'] // 2} of {instances} instances have state"

    eventually(filled, timeout, 0.5)


# -- measuring pages ---------------------------------------------------------------------------


def make_long_journal(ingress: str, api: Any) -> str:
    """One completed invocation with a 1,000-entry journal; its id."""
    response = httpx.post(f"{ingress}/{SERVICE}/long-journal/long_journal/send", json=200, timeout=60)
    response.raise_for_status()
    invocation_id = str(response.json()["invocationId"])
    deadline = time.monotonic() + 600
    while True:
        rows = api.query(f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'")
        if rows and rows[0]["status"] == "completed":
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the 1,000-entry journal did not complete")
        time.sleep(0.5)
    [row] = api.query(f"SELECT COUNT(*) AS n FROM sys_journal WHERE id = '{invocation_id}'")
    if row["n"] != JOURNAL_ENTRIES:
        raise RuntimeError(f"the long journal has {row['n']} entries, not {JOURNAL_ENTRIES}")
    return invocation_id


def pages(api: Any, long_journal: str) -> dict[str, str]:
    """The pages to time: the two the target is about first, then a few for context."""
    from django_restate.admin_views.instances import instance_url

    [sample] = api.query(f"SELECT service_key FROM state WHERE service_name = '{SERVICE}' LIMIT 1")
    return {
        "state list": "/admin/django_restate/state/",
        "invocation list": "/admin/django_restate/invocation/",
        "overview (target <= 300 ms)": "/admin/django_restate/overview/",
        f"invocation page, {JOURNAL_ENTRIES:,}-entry journal (target <= 200 ms)": (
            f"/admin/django_restate/invocation/{long_journal}/"
        ),
        "state list, page 5": "/admin/django_restate/state/?p=5",
        "state list, key-prefix search": f"/admin/django_restate/state/?service={SERVICE}&key_prefix=cart-00001",
        "invocation list, one key": f"/admin/django_restate/invocation/?service={SERVICE}&key=cart-0000005",
        "instance page": instance_url(SERVICE, sample["service_key"]),
    }


def queries_alone(api: Any) -> dict[str, Any]:
    """The /query statements behind the two list pages, timed without Django, to show where time goes."""
    from django_restate.admin_api import queries

    return {
        "/query alone: state list SQL": lambda: queries.state_instances(api),
        "/query alone: invocation list SQL": lambda: queries.invocations(api, queries.InvocationFilter()),
        "/query alone: COUNT(*) of state (not used by the pages)": lambda: api.query("SELECT COUNT(*) FROM state"),
    }


def load_page(client: Any, url: str) -> Any:
    def load() -> None:
        response = client.get(url)
        if response.status_code != 200 or b"restate-banner" in response.content:
            raise RuntimeError(f"{url} failed with {response.status_code}: {response.content[:2000]!r}")

    return load


def time_it(action: Any, repeats: int) -> tuple[float, float]:
    for _ in range(3):
        action()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    quantiles = statistics.quantiles(samples, n=10)
    return statistics.median(samples) * 1000, quantiles[-1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="instance counts to measure, ascending")
    parser.add_argument("--repeats", type=int, default=30, help="timed loads per page and size")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent ingress /send requests")
    parser.add_argument(
        "--section", default="admin", help="the bench/RESULTS.md section to write (keeps other runs' sections)"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database)
        return

    from django_restate.testing.server import RestateServer, free_port

    sizes = sorted(int(s) for s in args.sizes.split(","))
    workdir = tempfile.mkdtemp(prefix="admin-bench-")
    database = os.path.join(workdir, "db.sqlite3")
    port = free_port()
    with RestateServer() as server:
        configure(
            database,
            {
                "ADMIN_URL": server.admin_url,
                "INGRESS_URL": server.ingress_url,
                "DEPLOYMENT_URL": f"http://127.0.0.1:{port}/restate",
            },
        )
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.test import Client

        from django_restate.admin_api import AdminAPI
        from django_restate.deployments import register

        call_command("migrate", verbosity=0)
        client = Client()
        client.force_login(User.objects.create_superuser("bench", "bench@example.com", "bench"))
        deployment = start_deployment(port, database)
        try:
            with AdminAPI(server.admin_url) as api:
                register(api)
                results: dict[int, dict[str, tuple[float, float]]] = {}
                creation: dict[int, float] = {}
                load: dict[int, float] = {}
                created = 0
                long_journal = make_long_journal(server.ingress_url, api)
                for size in sizes:
                    started = time.monotonic()
                    asyncio.run(create_instances(server.ingress_url, created, size, args.concurrency))
                    wait_for_state(api, size)
                    creation[size] = time.monotonic() - started
                    print(f"{size - created} instances created in {creation[size]:.0f}s", flush=True)
                    created = size
                    load[size] = os.getloadavg()[0]
                    actions = {name: load_page(client, url) for name, url in pages(api, long_journal).items()}
                    actions.update(queries_alone(api))
                    results[size] = {name: time_it(action, args.repeats) for name, action in actions.items()}
                    for name, (p50, p90) in results[size].items():
                        print(f"  {size:>7} {name:40s} p50 {p50:6.1f} ms  p90 {p90:6.1f} ms", flush=True)
        finally:
            deployment.terminate()
            deployment.wait(10)
    report(sizes, results, creation, load, args)


WHY = """\
Why the lists grow with the number of instances (restate-server 1.7.12, the latest release): `/query`
narrows a scan to one partition only for `partition_key = ...` / `partition_key IN (...)` or an
invocation id. A range on `partition_key` is not pushed down; `LIMIT` without `ORDER BY` stops early but
returns different rows from run to run (partitions are scanned concurrently), so it cannot page; and
`ORDER BY` / `GROUP BY` over all instances plans as `SortExec: TopK` over a scan of every partition. A
stable page of all instances therefore reads them all, and the pages stay live (no copy in Django's
database). Lookups of one key name its partition key and cost the same at any size: the instance page
and "invocation list, one key"."""


def report(
    sizes: list[int],
    results: dict[int, dict[str, tuple[float, float]]],
    creation: dict[int, float],
    load: dict[int, float],
    args: Any,
) -> None:
    from bench.results import table, write_section

    small, large = sizes[0], sizes[-1]
    headers = ["page", *(f"{s:,} p50 (p90)" for s in sizes), f"{large:,} / {small:,}"]
    rows = []
    for name in results[small]:
        cells = [f"{results[s][name][0]:.0f} ms ({results[s][name][1]:.0f})" for s in sizes]
        rows.append([name, *cells, f"{results[large][name][0] / results[small][name][0]:.1f}x"])
    made = ", ".join(f"{s:,} in {creation[s]:.0f}s" for s in sizes)
    markdown = (
        f"## Admin pages (`python -m bench.admin_bench --sizes {args.sizes} --repeats {args.repeats}"
        + (f" --section {args.section}" if args.section != "admin" else "")
        + "`)\n\n"
        f"Virtual Object instances with two state keys each, created through the real server "
        f"({made}, {args.concurrency} concurrent ingress `/send`). Page = Django view + live `/query` + "
        f"template, logged-in superuser, {args.repeats} loads after 3 warm-ups. Target: the first two rows "
        f"within 1.5x and under 300 ms p50 at {large:,}. Load average when measuring "
        f"({os.cpu_count()} CPUs): "
        + ", ".join(f"{load[s]:.1f} at {s:,}" for s in sizes)
        + ".\n\n"
        + table(headers, rows)
        + "\n\n"
        + WHY
    )
    write_section(args.section, markdown)
    print(markdown)


if __name__ == "__main__":
    main()

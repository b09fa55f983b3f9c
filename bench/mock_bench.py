"""Handler calls per second: the mock (SQLite, PostgreSQL) against a real restate-server, one run.

    .venv/bin/python -m bench.mock_bench         # PostgreSQL at DATABASE_URL or 127.0.0.1:5432

The same demo handlers, called sequentially the way a test calls them:

- ``Greeter.greet``: a Service with one ``ctx.run`` step;
- ``Cart.add_item``: an exclusive Virtual Object handler, a ``ctx.run`` step with an ORM query,
  a state read and a state write;
- ``Cart.items``: a shared handler reading state.

The mock runs in-process inside a rolled-back transaction, as in a pytest-django test, once on
SQLite and once on PostgreSQL (each in a child process, since Django has one database setup per
process). The real side is restate-server plus the project's ASGI app under uvicorn (HTTP/1.1,
its own process), called through ``django_restate.client``. Target: the mock on SQLite at least
10x the real server's sequential calls per second, on PostgreSQL at least 3x.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MOCK_CALLS = 300
REAL_CALLS = 100
ROUNDS = 5
WARMUP = 30
HANDLERS = ["Greeter.greet", "Cart.add_item", "Cart.items"]


def workload(backend: Any) -> dict[str, Callable[[], Any]]:
    """One call of each benchmarked handler, through either backend's proxies."""
    from demo_project.shop.restate_services import Cart, CartItem, Greeter

    key = uuid.uuid4().hex[:8]
    item = CartItem(sku="tea", quantity=1)
    return {
        "Greeter.greet": lambda: backend.service(Greeter).greet("Ada"),
        "Cart.add_item": lambda: backend.object(Cart, key).add_item(item),
        "Cart.items": lambda: backend.object(Cart, key).items(),
    }


def measure(calls: dict[str, Callable[[], Any]], count: int) -> dict[str, float]:
    """Calls per second of each handler: the best of a few rounds, since other processes share
    the machine and only ever slow a round down."""
    rates: dict[str, float] = {}
    for name, call in calls.items():
        for _ in range(WARMUP):
            call()
        for _ in range(ROUNDS):
            started = time.perf_counter()
            for _ in range(count):
                call()
            rates[name] = max(rates.get(name, 0.0), count / (time.perf_counter() - started))
    return rates


# -- the mock, in a child process per database ----------------------------------------------------


def run_mock() -> None:
    """Child: set up a test database, run the workload on the mock inside a transaction, print JSON."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test.utils import setup_test_environment

    from demo_project.shop.models import Product
    from django_restate.testing.harness import MockRestate

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with transaction.atomic():
            Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10**9)
            mock = MockRestate()
            rates = measure(workload(mock), MOCK_CALLS)
            mock.close()
            transaction.set_rollback(True)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(json.dumps({"vendor": connection.vendor, "rates": rates}))


def mock_rates(database_url: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bench.mock_bench", "--mock"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"mock run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1])["rates"])


# -- the real server ---------------------------------------------------------------------------------


def real_rates() -> dict[str, float]:
    """restate-server + uvicorn serving the demo project (SQLite file database), via the client."""
    folder = tempfile.mkdtemp(prefix="mock-bench-")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="demo_project.settings",
        DEMO_SQLITE=str(Path(folder) / "db.sqlite3"),
        PYTHONPATH=str(ROOT),
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    seed = (
        "from demo_project.shop.models import Product as P; P.objects.create(sku='tea', name='T',price=1, stock=10**9)"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", seed], cwd=ROOT, env=env, check=True)

    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DEMO_SQLITE")})
    import django

    django.setup()

    from django_restate.admin_api import AdminAPI
    from django_restate.deployments import register
    from django_restate.testing.real import RealRestate
    from django_restate.testing.server import RestateServer, free_port, wait_for_http

    port = free_port()
    uvicorn = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "demo_project.asgi:application", "--port", str(port), "--log-level", "error"],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/restate/health", process=uvicorn)
        with RestateServer() as server:
            with AdminAPI(server.admin_url) as admin:
                register(admin, f"http://127.0.0.1:{port}/restate")
            real = RealRestate(server.ingress_url, server.admin_url)
            try:
                return measure(workload(real), REAL_CALLS)
            finally:
                real.close()
    finally:
        uvicorn.terminate()
        uvicorn.wait(10)


def postgres_url() -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres")
    return urlunsplit(parts._replace(path="/django_restate_mock_bench"))


def main() -> None:
    from bench.results import table, write_section

    sqlite = mock_rates(None)
    postgres = mock_rates(postgres_url())
    real = real_rates()

    def total(rates: dict[str, float]) -> float:
        # The same number of calls of each handler: total calls over total time.
        return len(rates) / sum(1 / rate for rate in rates.values())

    rows: list[list[object]] = []
    for name in [*HANDLERS, "all three, equal mix"]:
        pick: Callable[[dict[str, float]], float] = total if name.startswith("all") else (lambda r, n=name: r[n])
        r, s, p = pick(real), pick(sqlite), pick(postgres)
        rows.append([name, f"{r:,.0f}", f"{s:,.0f}", f"{s / r:.1f}x", f"{p:,.0f}", f"{p / r:.1f}x"])
    headers = ["handler", "real server calls/s", "mock SQLite calls/s", "vs real", "mock PostgreSQL calls/s", "vs real"]
    ok_sqlite = total(sqlite) / total(real) >= 10
    ok_postgres = total(postgres) / total(real) >= 3
    markdown = "\n\n".join(
        [
            "## Mock vs real restate-server (`python -m bench.mock_bench`)",
            "Sequential handler calls per second, as a test makes them: the mock in-process inside a "
            f"rolled-back transaction (best of {ROUNDS} rounds of {MOCK_CALLS} calls per handler), a real "
            "restate-server with the demo project under uvicorn (HTTP/1.1, its own process, SQLite) through "
            f"`django_restate.client` (best of {ROUNDS} rounds of {REAL_CALLS} calls). "
            "`Greeter.greet`: one `ctx.run` step; `Cart.add_item`: an ORM query in a `ctx.run` step, "
            "a state read and write; `Cart.items`: a shared state read.",
            table(headers, rows),
            f"Targets: mock on SQLite >= 10x the real server ({'met' if ok_sqlite else 'NOT met'}), on "
            f"PostgreSQL >= 3x ({'met' if ok_postgres else 'NOT met'}), on the equal mix. restate-server, "
            "uvicorn and the benchmark share this machine.",
        ]
    )
    write_section("mock_bench", markdown)
    print(markdown)


if __name__ == "__main__":
    if "--mock" in sys.argv:
        run_mock()
    else:
        main()

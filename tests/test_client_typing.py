"""``client.call(Cart.add_item, item, key=...)`` is typed end to end: mypy --strict infers the result
from the handler's annotation, and refuses an input of the wrong type, on the client and on the mock."""

from __future__ import annotations

from pathlib import Path

from tests.test_readme_typing import run_mypy

TYPED = """\
from datetime import timedelta
from typing import Any, assert_type

from demo_project.shop.restate_services import Cart, CartItem, Greeter
from django_restate.client import InvocationHandle, client
from django_restate.testing.harness import MockRestate


def view(item: CartItem) -> None:
    assert_type(client.call(Cart.add_item, item, key="alice"), int)
    assert_type(client.call(Cart.total, key="alice"), float)
    assert_type(client.call(Greeter.greet, "Ada"), str)
    handle = client.send(Cart.add_item, item, key="alice", delay=timedelta(seconds=1))
    assert_type(handle, InvocationHandle[int])
    assert_type(handle.attach(), int)
    assert_type(client.object(Cart, "alice").add_item(item), Any)  # the attribute spelling stays Any


async def aview(item: CartItem) -> None:
    assert_type(await client.acall(Cart.add_item, item, key="alice"), int)
    assert_type((await client.asend(Greeter.greet, "Ada")).attach(), str)


def test(mock: MockRestate, item: CartItem) -> None:
    assert_type(mock.call(Cart.add_item, item, key="alice"), int)
"""

WRONG = """\
from demo_project.shop.restate_services import Cart, Greeter
from django_restate.client import client

client.call(Cart.add_item, "tea", key="alice")
client.call(Greeter.greet, 3)
"""


def test_typed_calls_infer_the_handlers_types(tmp_path: Path) -> None:
    (tmp_path / "typed.py").write_text(TYPED)
    result = run_mypy(tmp_path, ["typed.py"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_typed_calls_refuse_a_wrong_input(tmp_path: Path) -> None:
    (tmp_path / "wrong.py").write_text(WRONG)
    result = run_mypy(tmp_path, ["wrong.py"])
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert len(errors) == 2, result.stdout
    # mypy names the handler's input type that the argument does not match.
    assert errors[0].startswith("wrong.py:4: error: ") and "CartItem" in errors[0] and "[Any, Any, str]" in errors[0]
    assert errors[1].startswith("wrong.py:5: error: ") and "[Any, Any, int]" in errors[1], errors[1]

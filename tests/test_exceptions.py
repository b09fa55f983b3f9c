"""``except RestateError`` catches everything django_restate raises on purpose: every public exception
class the package defines derives from it (private ones, ``_Name``, are control flow that is caught
where it is raised and never reaches user code)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import django_restate
from django_restate.exceptions import HandlerError, IngressError, RestateError


def package_exceptions() -> dict[str, type[Exception]]:
    found: dict[str, type[Exception]] = {}
    for module_info in pkgutil.walk_packages(django_restate.__path__, "django_restate."):
        if ".migrations." in module_info.name:
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            ours = inspect.isclass(value) and value.__module__ == module.__name__ and not name.startswith("_")
            if ours and issubclass(value, Exception):
                found[f"{value.__module__}.{name}"] = value
    return found


def test_every_package_exception_is_a_restate_error(db):
    exceptions = package_exceptions()
    assert len(exceptions) >= 20, sorted(exceptions)  # the walk found the package's errors
    assert not [name for name, cls in exceptions.items() if not issubclass(cls, RestateError)]


def test_answered_errors_share_one_base_and_read_as_before():
    ingress = IngressError(404, "service not found", "Nope/go", "inv_1")
    handler = HandlerError(409, "no stock", "Cart/alice/add_item", "inv_2")
    assert (ingress.status_code, ingress.message, ingress.target, ingress.invocation_id) == (
        404,
        "service not found",
        "Nope/go",
        "inv_1",
    )
    assert str(ingress) == "Nope/go: 404 service not found"
    assert str(handler) == "Cart/alice/add_item failed with 409: no stock"
    assert not isinstance(handler, IngressError) and not isinstance(ingress, HandlerError)
    assert str(HandlerError(500, "a {brace}", "T/h")) == "T/h failed with 500: a {brace}"

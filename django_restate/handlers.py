"""The classes users subclass, and the ``@handler`` decorator that adds options.

A handler class is plain Python: which methods are handlers, and of which kind,
is read from their annotations by :mod:`django_restate.reflect`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

ServiceKind = Literal["service", "object", "workflow"]

#: Attribute under which ``@handler`` stores its options on the function.
OPTIONS_ATTR = "__restate_handler_options__"


class RestateService:
    """Common base of :class:`Service`, :class:`VirtualObject` and :class:`Workflow`.

    Class attributes named like the Restate SDK's service constructor arguments
    (``inactivity_timeout``, ``journal_retention``, ``ingress_private``,
    ``invocation_retry_policy``, ``metadata``, ...) become service options.
    ``name`` overrides the service name (default: the class name). The class
    docstring is the service's documentation. A class that sets
    ``abstract = True`` is a base for others and is not registered itself.

    Restate creates one instance of the class per invocation, as Django does
    for class-based views, so instance attributes never leak between calls.
    """

    restate_kind: ClassVar[ServiceKind]
    name: ClassVar[str | None] = None
    abstract: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ``abstract`` is never inherited: a subclass of an abstract base is concrete.
        if "abstract" not in cls.__dict__:
            cls.abstract = False

    @classmethod
    def service_name(cls) -> str:
        return cls.name or cls.__name__


class Service(RestateService):
    """A stateless Restate service: handlers take ``restate.Context``."""

    restate_kind = "service"
    abstract = True


class VirtualObject(RestateService):
    """A keyed Restate object: ``restate.ObjectContext`` handlers are exclusive per
    key, ``restate.ObjectSharedContext`` handlers are shared (read-only, concurrent)."""

    restate_kind = "object"
    abstract = True


class Workflow(RestateService):
    """A Restate workflow: exactly one ``restate.WorkflowContext`` handler (the run,
    once per workflow id) and any number of ``restate.WorkflowSharedContext`` handlers."""

    restate_kind = "workflow"
    abstract = True


@overload
def handler(fn: F, /) -> F: ...
@overload
def handler(fn: None = None, /, **options: Any) -> Callable[[F], F]: ...
def handler(fn: F | None = None, /, **options: Any) -> F | Callable[[F], F]:
    """Add Restate options to a handler method: ``name``, timeouts, retention,
    ``ingress_private``, ``invocation_retry_policy``, serdes, ...

    The method's first annotation decides whether it is a handler and of which
    kind; ``@handler`` only adds options. Unknown options are reported when the
    class is registered, naming the class and method.
    """

    def decorate(func: F) -> F:
        setattr(func, OPTIONS_ATTR, dict(options))
        return func

    if fn is not None:
        return decorate(fn)
    return decorate

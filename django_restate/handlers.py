"""The classes users subclass, their inner ``class Meta``, and the ``@handler`` decorator.

A handler class is plain Python: which methods are handlers, and of which kind,
is read from their annotations by :mod:`django_restate.reflect`. Options live in
an inner ``class Meta:`` (as in Django models, forms and DRF serializers), so a
handler method may have any name, ``name`` and ``metadata`` included::

    class Cart(VirtualObject):
        class Meta:
            name = "ShoppingCart"
            inactivity_timeout = timedelta(minutes=5)

        async def name(self, ctx: restate.ObjectSharedContext) -> str: ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, overload

import restate
from django.core.exceptions import ImproperlyConfigured

F = TypeVar("F", bound=Callable[..., Any])

ServiceKind = Literal["service", "object", "workflow"]

#: Attribute under which ``@handler`` stores its options on the function.
OPTIONS_ATTR = "__restate_handler_options__"

#: The SDK's service class for each kind: ``Meta`` takes its constructor's arguments.
SDK_CLASSES: dict[str, Any] = {
    "service": restate.Service,
    "object": restate.VirtualObject,
    "workflow": restate.Workflow,
}

#: ``Meta`` options that are ours, not the SDK constructor's.
OWN_OPTIONS = ("name", "abstract", "validate_input")


def meta_option_names(kind: str) -> list[str]:
    """Every option ``Meta`` accepts on a class of this kind, in the SDK constructor's order."""
    return ["abstract", "validate_input", *inspect.signature(SDK_CLASSES[kind]).parameters]


#: Names that were class attributes before ``Meta`` (any kind): set as plain values, they are refused.
OLD_ATTRIBUTES = frozenset(n for kind in SDK_CLASSES for n in meta_option_names(kind)) - {"validate_input"}


@dataclass(frozen=True)
class ServiceOptions:
    """A handler class's options, read once from its ``Meta`` when the class is created (``cls._meta``)."""

    kind: ServiceKind
    #: The service name in Restate: ``Meta.name``, or the class name.
    name: str
    #: A base for other classes, never registered itself. Never inherited.
    abstract: bool
    #: ``Meta.description``; None means the class docstring.
    description: str | None = None
    #: The SDK service options (``inactivity_timeout``, ``metadata``, ...), by their SDK names.
    options: dict[str, Any] = field(default_factory=dict)
    #: False: decode inputs as the SDK does (parse only), see ``@handler(validate_input=...)``.
    validate_input: bool = True


class RestateService:
    """Common base of :class:`Service`, :class:`VirtualObject` and :class:`Workflow`.

    Options go in an inner ``class Meta:``: ``name`` (the service name, default the
    class name), ``abstract = True`` (a base for others, not registered itself, never
    inherited), ``description`` (default the class docstring) and the Restate SDK's
    service constructor arguments by their SDK names (``inactivity_timeout``,
    ``abort_timeout``, ``journal_retention``, ``idempotency_retention``,
    ``ingress_private``, ``invocation_retry_policy``, ``metadata``,
    ``enable_lazy_state``, ...). A class without its own ``Meta`` inherits the options
    of its nearest abstract base's ``Meta`` (not ``name``, ``abstract`` or
    ``description``); one with its own ``Meta`` extends a base's with
    ``class Meta(Base.Meta):``, as in Django.

    Restate creates one instance of the class per invocation, as Django does
    for class-based views, so instance attributes never leak between calls.
    """

    restate_kind: ClassVar[ServiceKind]
    #: The options read from ``Meta``, set for every subclass when it is created.
    _meta: ClassVar[ServiceOptions]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:  # Service, VirtualObject and Workflow themselves
            cls._meta = ServiceOptions(kind=cls.__dict__["restate_kind"], name=cls.__name__, abstract=True)
            return
        cls._meta = read_meta(cls)


def read_meta(cls: type[RestateService]) -> ServiceOptions:
    """``cls``'s options from its ``Meta``; ``ImproperlyConfigured`` for an unknown option or an
    option still written as a plain class attribute, naming it and showing the ``Meta`` spelling."""
    label = f"{cls.__module__}.{cls.__qualname__}"
    kind = _kind_of(cls)
    for attr, value in vars(cls).items():
        if attr in OLD_ATTRIBUTES and not _is_behaviour(value):
            raise ImproperlyConfigured(
                f"{label} sets `{attr}` as a class attribute. Service options live in an inner Meta class "
                f"(so that a handler method may be called {attr!r}): write\n"
                f"    class {cls.__name__}(...):\n        class Meta:\n            {attr} = {_short(value)}"
            )
    own = vars(cls).get("Meta")
    if own is None:
        metas = [vars(b).get("_meta") for b in cls.__mro__[1:]]
        base = next((m for m in metas if isinstance(m, ServiceOptions) and m.abstract), None)
        if base is None:
            return ServiceOptions(kind=kind, name=cls.__name__, abstract=False)
        return ServiceOptions(
            kind=kind, name=cls.__name__, abstract=False, options=dict(base.options), validate_input=base.validate_input
        )
    if not inspect.isclass(own):
        raise ImproperlyConfigured(f"{label}.Meta must be a class (`class Meta:`), not {type(own).__name__}.")
    values = _meta_values(own)
    valid = meta_option_names(kind)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ImproperlyConfigured(
            f"{label}.Meta has unknown option(s) {', '.join(unknown)}. Valid for a {SDK_CLASSES[kind].__name__}: "
            f"{', '.join(valid)}."
        )
    name = vars(own).get("name", cls.__name__)  # never inherited from a base's Meta: names are unique
    if not isinstance(name, str) or not name:
        raise ImproperlyConfigured(f"{label}.Meta.name must be a non-empty str, not {name!r}.")
    description = values.get("description")
    if description is not None and not isinstance(description, str):
        raise ImproperlyConfigured(f"{label}.Meta.description must be a str, not {type(description).__name__}.")
    validate_input = values.get("validate_input", True)
    if not isinstance(validate_input, bool):
        raise ImproperlyConfigured(f"{label}.Meta.validate_input must be True or False, not {validate_input!r}.")
    options = {k: v for k, v in values.items() if k not in (*OWN_OPTIONS, "description") and v is not None}
    return ServiceOptions(
        kind=kind,
        name=name,
        abstract=bool(vars(own).get("abstract", False)),  # never inherited, as in Django
        description=description,
        options=options,
        validate_input=validate_input,
    )


def _meta_values(meta: type) -> dict[str, Any]:
    """The options a ``Meta`` sets, its own and those of the ``Meta`` classes it extends."""
    values: dict[str, Any] = {}
    for klass in reversed(meta.__mro__):
        if klass is object:
            continue
        values.update((k, v) for k, v in vars(klass).items() if not k.startswith("__"))
    return values


def _kind_of(cls: type) -> ServiceKind:
    for klass in cls.__mro__:
        if klass.__module__ == __name__ and "restate_kind" in vars(klass):
            kind: ServiceKind = vars(klass)["restate_kind"]
            return kind
    raise ImproperlyConfigured(f"{cls.__qualname__} must subclass Service, VirtualObject or Workflow.")


def _is_behaviour(value: Any) -> bool:
    """A method or descriptor (which may have any name), as opposed to a plain option value."""
    return inspect.isfunction(value) or isinstance(value, (staticmethod, classmethod, property))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Service(RestateService):
    """A stateless Restate service: handlers take ``restate.Context``."""

    restate_kind = "service"


class VirtualObject(RestateService):
    """A keyed Restate object: ``restate.ObjectContext`` handlers are exclusive per
    key, ``restate.ObjectSharedContext`` handlers are shared (read-only, concurrent)."""

    restate_kind = "object"


class Workflow(RestateService):
    """A Restate workflow: exactly one ``restate.WorkflowContext`` handler (the run,
    once per workflow id) and any number of ``restate.WorkflowSharedContext`` handlers."""

    restate_kind = "workflow"


@overload
def handler(fn: F, /) -> F: ...
@overload
def handler(fn: None = None, /, **options: Any) -> Callable[[F], F]: ...
def handler(fn: F | None = None, /, **options: Any) -> F | Callable[[F], F]:
    """Add Restate options to a handler method: ``name``, timeouts, retention,
    ``ingress_private``, ``invocation_retry_policy``, serdes, ..., and ours:
    ``validate_input=False`` decodes the input exactly as the SDK does (JSON parsed, a
    pydantic model or dataclass built, nothing else checked) for handlers that must
    accept whatever existing callers send; the default (``Meta.validate_input``, True)
    validates it against the annotation, bad input being a terminal 400.

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

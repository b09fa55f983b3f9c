"""Read a handler class the way the Go SDK's ``restate.Reflect`` does.

Every public ``async def`` whose first parameter after ``self`` is annotated
with a Restate context type is a handler; the annotation decides its kind.
Anything that looks like a handler but cannot be one is an
``ImproperlyConfigured`` error naming the class, the method and the fix.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

import pydantic
import restate
from django.core.exceptions import ImproperlyConfigured
from restate.serde import Serde

from .handlers import OPTIONS_ATTR, SDK_CLASSES, RestateService, Service, VirtualObject, Workflow
from .serde import ParseOnlySerde, typed_json

#: The handler's context kind, read from its first annotation.
ContextKind = Literal["service", "exclusive", "shared", "workflow", "workflow_shared"]

# Most specific first: WorkflowContext subclasses ObjectContext, which subclasses Context.
CONTEXT_KINDS: dict[type, ContextKind] = {
    restate.WorkflowContext: "workflow",
    restate.WorkflowSharedContext: "workflow_shared",
    restate.ObjectContext: "exclusive",
    restate.ObjectSharedContext: "shared",
    restate.Context: "service",
}

#: For each service kind, the context annotations it accepts -> the handler kind.
ALLOWED: dict[str, dict[type, str | None]] = {
    "service": {restate.Context: None},
    "object": {restate.ObjectContext: "exclusive", restate.ObjectSharedContext: "shared"},
    "workflow": {restate.WorkflowContext: "workflow", restate.WorkflowSharedContext: "shared"},
}

WHAT_TO_WRITE: dict[str, str] = {
    "service": "annotate it with restate.Context",
    "object": "annotate it with restate.ObjectContext (exclusive) or restate.ObjectSharedContext (shared)",
    "workflow": "annotate it with restate.WorkflowContext (the one main handler) or restate.WorkflowSharedContext",
}

#: A service kind -> the SDK's (and the admin API's) name for it.
SDK_TYPES: dict[str, str] = {"service": "Service", "object": "VirtualObject", "workflow": "Workflow"}

#: ``HandlerSpec.kind`` -> the admin API's handler type (None: a Service's handlers have none).
HANDLER_SDK_TYPES: dict[str | None, str | None] = {
    None: None,
    "exclusive": "Exclusive",
    "shared": "Shared",
    "workflow": "Workflow",
}

#: A context kind -> the annotation that gives it, as error messages name it.
CONTEXT_ANNOTATIONS: dict[str, str] = {
    kind: f"restate.{context_type.__name__}" for context_type, kind in CONTEXT_KINDS.items()
}

#: How to address a service of each kind, for the one "address it with ..." error.
ADDRESS: dict[str, str] = {
    "service": "service({cls})",
    "object": "object({cls}, key)",
    "workflow": "workflow({cls}, workflow_id)",
}

NO_INPUT = object()


@dataclass(frozen=True)
class HandlerSpec:
    """One handler method, as discovered."""

    attr: str  # the method's name on the class
    name: str  # the handler's name in Restate
    kind: str | None  # None (service), "exclusive", "shared" or "workflow"
    context_type: type
    input_type: Any  # NO_INPUT when the handler takes only the context
    output_type: Any  # None when the method returns nothing
    #: "service", "exclusive", "shared", "workflow" or "workflow_shared": which context it takes.
    context_kind: ContextKind = "service"
    options: dict[str, Any] = field(default_factory=dict)
    doc: str | None = None
    #: False: the input is decoded as the SDK does, parse only (``@handler(validate_input=False)``).
    validate_input: bool = True

    @property
    def takes_input(self) -> bool:
        return self.input_type is not NO_INPUT

    @property
    def sdk_type(self) -> str | None:
        """The admin API's handler type: "Exclusive", "Shared", "Workflow", or None (a Service's)."""
        return HANDLER_SDK_TYPES[self.kind]

    @functools.cached_property
    def serdes(self) -> tuple[Serde[Any], Serde[Any]]:
        """How a caller encodes this handler's input and decodes its output: the user's serdes when
        ``@handler`` sets them, otherwise JSON typed by the method's annotations. One answer for every
        caller (the client, handlers calling handlers, the mock), so all agree with the endpoint."""
        input_serde = self.options.get("input_serde") or (
            typed_json(self.input_type if self.takes_input else None)
            if self.validate_input
            else ParseOnlySerde(self.input_type)
        )
        output_serde = self.options.get("output_serde") or typed_json(self.output_type)
        return input_serde, output_serde


@dataclass(frozen=True)
class ServiceSpec:
    """One handler class, as discovered (or one SDK-style service object, see :func:`reflect_sdk`)."""

    cls: type[RestateService]
    name: str
    kind: str  # "service", "object" or "workflow"
    handlers: tuple[HandlerSpec, ...]
    options: dict[str, Any]
    doc: str | None
    #: The SDK service object (``restate.Service("Greeter")``) when the service was written with the
    #: SDK's decorators: the endpoint serves it as it is, and ``cls`` is a stand-in that forwards to it.
    sdk_service: Any = None

    @property
    def label(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    @property
    def sdk_type(self) -> str:
        """ "Service", "VirtualObject" or "Workflow", as the SDK and the admin API name it."""
        return SDK_TYPES[self.kind]

    def target(self, key: str | None, handler: HandlerSpec | str) -> str:
        """How Restate names an invocation target: ``Greeter/greet`` or ``Cart/alice/add_item``."""
        name = handler if isinstance(handler, str) else handler.name
        if self.kind == "service":
            return f"{self.name}/{name}"
        return f"{self.name}/{key}/{name}"

    def wrong_kind(self, via: str) -> TypeError:
        """The one error for addressing this service as another kind, e.g. ``Cart is a VirtualObject:
        address it with client.object(Cart, key)``; ``via`` is what the caller used (``client``)."""
        how = ADDRESS[self.kind].format(cls=self.cls.__name__)
        return TypeError(f"{self.name} is a {self.sdk_type}: address it with {via}.{how}.")

    def handler(self, name: str) -> HandlerSpec:
        for spec in self.handlers:
            if spec.name == name or spec.attr == name:
                return spec
        raise LookupError(f"{self.name} has no handler {name!r}")


def reflect(cls: type[RestateService]) -> ServiceSpec:
    meta = cls._meta
    kind = meta.kind
    label = f"{cls.__module__}.{cls.__qualname__}"
    handlers = []
    for attr, func in _public_functions(cls):
        spec = _reflect_method(cls, label, kind, attr, func)
        if spec is not None:
            handlers.append(spec)
    if not handlers:
        raise ImproperlyConfigured(
            f"{label} has no handlers. Write at least one `async def method(self, ctx: ...)`: {WHAT_TO_WRITE[kind]}."
        )
    names = [h.name for h in handlers]
    for name in names:
        if names.count(name) > 1:
            raise ImproperlyConfigured(f"{label} has two handlers named {name!r}; give one another @handler(name=...).")
    if kind == "workflow":
        mains = [h.attr for h in handlers if h.kind == "workflow"]
        if len(mains) != 1:
            found = ", ".join(mains) or "none"
            raise ImproperlyConfigured(
                f"Workflow {label} must have exactly one handler taking restate.WorkflowContext "
                f"(found: {found}). Keep one as the workflow's run and annotate the others with "
                "restate.WorkflowSharedContext."
            )
    return ServiceSpec(
        cls=cls,
        name=meta.name,
        kind=kind,
        handlers=tuple(handlers),
        options=dict(meta.options),
        doc=meta.description or (inspect.cleandoc(cls.__dict__["__doc__"]) if cls.__dict__.get("__doc__") else None),
    )


#: Our base class for each kind.
SDK_CLASSES_OURS: dict[str, type[RestateService]] = {"service": Service, "object": VirtualObject, "workflow": Workflow}

#: The SDK's service classes -> our kind for each.
SDK_KINDS: dict[type, str] = {cls: kind for kind, cls in SDK_CLASSES.items()}

_CONTEXT_OF_KIND: dict[str, type] = {kind: context_type for context_type, kind in CONTEXT_KINDS.items()}


#: A service object written with the SDK: ``restate.Service("Greeter")``, a VirtualObject or a Workflow.
SDKService = restate.Service | restate.VirtualObject | restate.Workflow


def is_sdk_service(value: object) -> TypeGuard[SDKService]:
    """Whether ``value`` is a service object written with the SDK (``restate.Service("Greeter")``)."""
    return type(value) in SDK_KINDS


def reflect_sdk(service: Any, module: str | None = None) -> ServiceSpec:
    """The spec of an SDK-style service object, ``greeter = restate.Service("Greeter")`` with
    ``@greeter.handler()`` functions: kinds and serdes are the SDK's own, so every caller encodes
    what the SDK handler decodes. ``cls`` is a generated stand-in class whose methods (named like the
    handlers) forward to the SDK's functions, so code that runs or names handlers by class works."""
    kind = SDK_KINDS[type(service)]
    label = f"{module or 'restate'}.{service.name}"
    if not service.handlers:
        raise ImproperlyConfigured(
            f"The SDK {SDK_TYPES[kind]} {service.name!r} ({label}) has no handlers: decorate at least one "
            f"function with @{service.name.lower()}.handler()."
        )
    handlers = tuple(_sdk_handler_spec(kind, h) for h in service.handlers.values())
    namespace: dict[str, Any] = {
        "__module__": module or __name__,
        "__qualname__": service.name,
        "__doc__": service.service_tag.description,
        "Meta": type("Meta", (), {"name": service.name}),
    }
    for sdk_handler in service.handlers.values():
        namespace[sdk_handler.name] = _forwarder(sdk_handler)
    cls = type(service.name, (SDK_CLASSES_OURS[kind],), namespace)
    options = {n: getattr(service, n) for n in _SDK_SERVICE_OPTIONS if getattr(service, n, None) is not None}
    return ServiceSpec(
        cls=cls,
        name=service.name,
        kind=kind,
        handlers=handlers,
        options=options,
        doc=service.service_tag.description,
        sdk_service=service,
    )


_SDK_SERVICE_OPTIONS = (
    "inactivity_timeout",
    "abort_timeout",
    "journal_retention",
    "idempotency_retention",
    "enable_lazy_state",
    "state_preload",
    "ingress_private",
    "invocation_retry_policy",
)


def _sdk_handler_spec(kind: str, sdk_handler: Any) -> HandlerSpec:
    io = sdk_handler.handler_io
    handler_kind = None if kind == "service" else sdk_handler.kind
    context_kind = _context_kind(kind, handler_kind)
    if sdk_handler.arity < 2:
        input_type: Any = NO_INPUT
    else:
        input_type = io.input_type.annotation if io.input_type is not None else Any
    output_type = io.output_type.annotation if io.output_type is not None else Any
    return HandlerSpec(
        attr=sdk_handler.name,
        name=sdk_handler.name,
        kind=handler_kind,
        context_type=_CONTEXT_OF_KIND[context_kind],
        input_type=input_type,
        output_type=output_type,
        context_kind=context_kind,
        options={"input_serde": io.input_serde, "output_serde": io.output_serde},
        doc=sdk_handler.description,
    )


def _forwarder(sdk_handler: Any) -> Any:
    fn = sdk_handler.fn
    if sdk_handler.arity < 2:

        async def forward(self: Any, ctx: Any) -> Any:
            return await fn(ctx)

    else:

        async def forward(self: Any, ctx: Any, value: Any) -> Any:  # type: ignore[misc]
            return await fn(ctx, value)

    forward.__name__ = sdk_handler.name
    forward.__doc__ = sdk_handler.description
    return forward


def _public_functions(cls: type) -> list[tuple[str, Any]]:
    seen: dict[str, Any] = {}
    # Walk the MRO base-first so a subclass's override wins, in definition order.
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__ == RestateService.__module__:
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, (staticmethod, classmethod)):
                seen.pop(attr, None)
                continue
            if inspect.isfunction(value):
                seen[attr] = value
            else:
                seen.pop(attr, None)
    return list(seen.items())


def _reflect_method(cls: type, label: str, kind: str, attr: str, func: Any) -> HandlerSpec | None:
    where = f"{label}.{attr}"
    decorated = hasattr(func, OPTIONS_ATTR)
    params = list(inspect.signature(func).parameters.values())[1:]  # drop self
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:  # NameError for a forward reference nobody can resolve
        raise ImproperlyConfigured(f"Cannot read the annotations of {where}: {exc}") from exc
    context_type = hints.get(params[0].name) if params else None
    if _is_union(context_type):
        context_type = _shared_member(where, kind, context_type, decorated)
    if context_type not in CONTEXT_KINDS:
        if decorated:
            raise ImproperlyConfigured(
                f"{where} is marked @handler but its first parameter is not a Restate context: {WHAT_TO_WRITE[kind]}."
            )
        return None
    if not inspect.iscoroutinefunction(func):
        raise ImproperlyConfigured(f"Handler {where} must be `async def`; Restate handlers are coroutines.")
    allowed = ALLOWED[kind]
    if context_type not in allowed:
        raise ImproperlyConfigured(
            f"{where} takes restate.{context_type.__name__}, which a {SDK_TYPES[kind]} cannot have: "
            f"{WHAT_TO_WRITE[kind]}, or move the method to a {_home_of(context_type)}."
        )
    rest = params[1:]
    if len(rest) > 1 or any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY) for p in rest):
        raise ImproperlyConfigured(
            f"Handler {where} takes {len(rest)} inputs; a handler takes the context and at most one input. "
            "Group them in a dataclass or pydantic model."
        )
    options = dict(getattr(func, OPTIONS_ATTR, {}))
    name = options.pop("name", None) or attr
    validate_input = options.pop("validate_input", cls._meta.validate_input)  # type: ignore[attr-defined]
    if not isinstance(validate_input, bool):
        raise ImproperlyConfigured(f"@handler(validate_input=...) on {where} must be True or False.")
    handler_kind = allowed[context_type]
    unknown = sorted(set(options) - handler_option_names(kind, handler_kind))
    if unknown:
        valid = ", ".join(sorted(handler_option_names(kind, handler_kind)))
        raise ImproperlyConfigured(
            f"@handler on {where} got unknown option(s) {', '.join(unknown)}. Valid: name, validate_input, {valid}."
        )
    input_type = hints.get(rest[0].name, Any) if rest else NO_INPUT
    output_type = hints.get("return", Any) if "return" in hints else Any
    for role, annotation in (("input", input_type), ("output", output_type)):
        if annotation is not NO_INPUT:
            _check_json_type(where, role, annotation)
    return HandlerSpec(
        attr=attr,
        name=name,
        kind=handler_kind,
        context_type=context_type,
        input_type=input_type,
        output_type=output_type,
        context_kind=_context_kind(kind, handler_kind),
        options=options,
        doc=inspect.getdoc(func),
        validate_input=validate_input,
    )


def _check_json_type(where: str, role: str, annotation: Any) -> None:
    """Fail at start-up, naming the method, when pydantic cannot (de)serialise a type."""
    try:
        typed_json(annotation)
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as exc:
        first_line = str(exc).splitlines()[0]
        raise ImproperlyConfigured(f"The {role} type of {where} cannot be used as JSON: {first_line}") from exc


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _shared_member(where: str, kind: str, annotation: Any, decorated: bool) -> Any:
    """A union of contexts, ``ObjectSharedContext | ObjectContext`` (as SDK code writes a shared
    handler that exclusive ones also call directly): the shared handler it makes."""
    members = typing.get_args(annotation)
    contexts = [m for m in members if m in CONTEXT_KINDS]
    if not contexts:
        return annotation  # not about contexts: not a handler (or the @handler error below)
    shared = [m for m in contexts if ALLOWED[kind].get(m) == "shared"]
    if len(contexts) == len(members) and shared:
        return shared[0]
    names = " | ".join(getattr(m, "__name__", repr(m)) for m in members)
    fix = {
        "service": "a Service handler takes restate.Context alone",
        "object": "a union makes a shared handler: write restate.ObjectSharedContext | restate.ObjectContext",
        "workflow": "a union makes a shared handler: write restate.WorkflowSharedContext | restate.WorkflowContext",
    }[kind]
    raise ImproperlyConfigured(f"{where} takes a union of contexts ({names}): {fix}, or one context type.")


def _context_kind(kind: str, handler_kind: str | None) -> ContextKind:
    if handler_kind is None:
        return "service"
    if kind == "workflow" and handler_kind == "shared":
        return "workflow_shared"
    return typing.cast(ContextKind, handler_kind)


def _home_of(context_type: type) -> str:
    kind = CONTEXT_KINDS[context_type]
    if kind in ("workflow", "workflow_shared"):
        return "Workflow"
    if kind in ("exclusive", "shared"):
        return "VirtualObject"
    return "Service"


def sdk_class_for(kind: str) -> Any:
    return SDK_CLASSES[kind]


def handler_option_names(kind: str, handler_kind: str | None) -> set[str]:
    """The options the SDK's handler decorator accepts for this kind of handler."""
    sdk_class = sdk_class_for(kind)
    method = sdk_class.main if handler_kind == "workflow" else sdk_class.handler
    return set(inspect.signature(method).parameters) - {"self", "name", "kind"}

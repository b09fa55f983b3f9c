"""Turn registered handler classes into the Restate SDK's service objects and endpoint app."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import restate
from restate.handler import RESTATE_UNIQUE_HANDLER_SYMBOL, Handler, TypeHint

from .conf import restate_settings
from .reflect import HandlerSpec, SDKService, ServiceSpec, sdk_class_for
from .registry import registry
from .runtime import ContextManagerFactory, invocation_context_managers
from .serde import RawInputSerde, TypedJsonSerde, typed_json


def build_service(
    spec: ServiceSpec, context_managers: Iterable[ContextManagerFactory] = ()
) -> restate.Service | restate.VirtualObject | restate.Workflow:
    """The SDK service object for one handler class (an SDK-style service: itself, see :func:`serve_sdk_service`)."""
    if spec.sdk_service is not None:
        return serve_sdk_service(spec.sdk_service, context_managers)
    options = dict(spec.options)
    managers = list(context_managers) + list(options.pop("invocation_context_managers", None) or [])
    sdk_service: restate.Service | restate.VirtualObject | restate.Workflow = sdk_class_for(spec.kind)(
        spec.name, description=spec.doc, invocation_context_managers=managers or None, **options
    )
    for handler_spec in spec.handlers:
        typed_in = typed_json(handler_spec.input_type) if _decodes_input(handler_spec) else None
        decorator = _sdk_decorator(sdk_service, handler_spec)
        decorator(_invoker(spec.cls, handler_spec, typed_in))
        _use_typed_json(sdk_service.handlers[handler_spec.name], handler_spec, typed_in)
        _expose_call_target(spec, handler_spec, sdk_service.handlers[handler_spec.name])
    return sdk_service


def serve_sdk_service(service: SDKService, context_managers: Iterable[ContextManagerFactory] = ()) -> SDKService:
    """An SDK-style service, served as written: the same handlers, serdes and options, each
    invocation wrapped in this project's context managers (database connections tidied, signals)
    as class-based handlers are. The user's object is left untouched: this is a shallow copy."""
    managers = list(context_managers)
    if not managers:
        return service
    served = copy.copy(service)
    served.handlers = {
        name: dataclasses.replace(h, context_managers=managers + list(h.context_managers or []))
        for name, h in service.handlers.items()
    }
    return served


def build_services(
    context_managers: Iterable[ContextManagerFactory] = (), names: Iterable[str] | None = None
) -> list[Any]:
    """The SDK service objects of the services this deployment serves (:meth:`Registry.served`)."""
    managers = list(context_managers)
    return [build_service(spec, managers) for spec in registry.served(names)]


def endpoint_app(services: list[Any] | None = None, names: Iterable[str] | None = None) -> Any:
    """The bare SDK ASGI app for the services this deployment serves (``names``, else
    ``RESTATE["SERVICES"]``, else all registered), signed when IDENTITY_KEYS is set."""
    if registry.conflicts:
        raise registry.conflicts[0]
    if services is None:
        services = build_services(invocation_context_managers(), names)
    return restate.app(services, identity_keys=list(restate_settings.IDENTITY_KEYS) or None)


def _sdk_decorator(sdk_service: Any, spec: HandlerSpec) -> Any:
    if spec.kind == "workflow":
        return sdk_service.main(name=spec.name, **spec.options)
    if spec.kind is None or isinstance(sdk_service, restate.Workflow):
        # Services have one kind of handler; the SDK's Workflow.handler makes shared ones.
        return sdk_service.handler(name=spec.name, **spec.options)
    return sdk_service.handler(name=spec.name, kind=spec.kind, **spec.options)


def _decodes_input(spec: HandlerSpec) -> bool:
    return spec.takes_input and "input_serde" not in spec.options


def _invoker(cls: type, spec: HandlerSpec, typed_in: TypedJsonSerde | None) -> Callable[..., Any]:
    """A plain function the SDK can call: a fresh instance per invocation, input decoded by us."""
    attr = spec.attr
    # validate_input=False: parse only, as the SDK does (the handler's serdes say how).
    decode = None if typed_in is None else typed_in.deserialize if spec.validate_input else spec.serdes[0].deserialize

    if not spec.takes_input:

        async def invoke(ctx: Any) -> Any:
            return await getattr(cls(), attr)(ctx)

        params = [_param("ctx", spec.context_type)]
    else:

        async def invoke(ctx: Any, payload: Any) -> Any:  # type: ignore[misc]
            value = decode(payload) if decode is not None else payload
            return await getattr(cls(), attr)(ctx, value)

        params = [_param("ctx", spec.context_type), _param("payload", spec.input_type)]
    invoke.__name__ = attr
    invoke.__qualname__ = f"{cls.__qualname__}.{attr}"
    invoke.__doc__ = spec.doc
    invoke.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return invoke


def _param(name: str, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)


def _expose_call_target(service: ServiceSpec, spec: HandlerSpec, sdk_handler: Handler[Any, Any]) -> None:
    """Let other handlers call this one by method, ``ctx.object_call(Cart.add_item, key, item)``,
    as they can call plain SDK handlers: the SDK looks the target up in the function's ``__dict__``.
    The method must name this handler by :meth:`Registry.for_method`'s rule (the one the mock and the
    client follow), so a method that several registered classes inherit names none of them."""
    if service.sdk_service is not None:
        return  # the SDK's decorator already made its functions callable by reference
    func = getattr(service.cls, spec.attr)
    try:
        owner, _ = registry.for_method(func)
    except LookupError:
        vars(func).pop(RESTATE_UNIQUE_HANDLER_SYMBOL, None)
        return
    if owner is not service:
        return
    input_serde, output_serde = spec.serdes
    io = dataclasses.replace(sdk_handler.handler_io, input_serde=input_serde, output_serde=output_serde)
    vars(func)[RESTATE_UNIQUE_HANDLER_SYMBOL] = dataclasses.replace(sdk_handler, handler_io=io)


def _use_typed_json(handler: Handler[Any, Any], spec: HandlerSpec, typed_in: TypedJsonSerde | None) -> None:
    """Replace the SDK's default JSON handling with ours, unless the user chose serdes."""
    io = handler.handler_io
    if typed_in is not None:
        io.input_serde = RawInputSerde()
        io.input_type = TypeHint(annotation=spec.input_type, generate_json_schema=typed_in.json_schema)
    if "output_serde" not in spec.options:
        void = spec.output_type is None or spec.output_type is type(None)
        typed_out = typed_json(spec.output_type)
        io.output_serde = typed_out
        io.output_type = TypeHint(
            annotation=spec.output_type, is_void=void, generate_json_schema=None if void else typed_out.json_schema
        )

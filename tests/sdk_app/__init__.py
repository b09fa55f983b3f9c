"""SDK-style services (``restate.Service("greeter")`` with ``@greeter.handler()``), mounted unchanged."""

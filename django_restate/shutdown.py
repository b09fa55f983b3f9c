"""Keep the ASGI server's own SIGTERM handling alive next to the Restate SDK's.

On its first call the SDK endpoint registers a SIGTERM handler with
``loop.add_signal_handler``, which silently replaces the handler the ASGI
server installed (uvicorn then ignores ``kill -TERM``). We install the SDK's
dispatcher first, with the server's previous handler as its first hook, so one
SIGTERM both tells in-flight invocations to suspend and stops the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from restate.server import _shutdown_hooks, install_shutdown_hook

logger = logging.getLogger(__name__)


def chain_server_shutdown(loop: asyncio.AbstractEventLoop, signum: int = signal.SIGTERM) -> bool:
    """Make ``signum`` still reach the server's handler once the SDK takes it over.

    Returns False when nothing was done: the SDK already owns the signal on this
    loop, or signals cannot be handled here (a non-main thread, Windows).
    """
    if signum in _shutdown_hooks.get(loop, {}):
        return False
    previous = _previous_handler(loop, signum)
    try:
        install_shutdown_hook(loop, previous, signum)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True


def _previous_handler(loop: asyncio.AbstractEventLoop, signum: int) -> Callable[[], None]:
    # A server that used loop.add_signal_handler (hypercorn) keeps its callback on the loop.
    handle: Any = getattr(loop, "_signal_handlers", {}).get(signum)
    if handle is not None:
        return lambda: handle._callback(*handle._args)
    handler = signal.getsignal(signum)
    if callable(handler):
        return lambda: handler(signum, None)
    if handler == signal.SIG_IGN:
        return lambda: None

    def default_action() -> None:
        # SIG_DFL: the process was meant to die on this signal; let it.
        logger.info("Signal %s received; stopping as the default action would.", signum)
        loop.remove_signal_handler(signum)
        os.kill(os.getpid(), signum)

    return default_action

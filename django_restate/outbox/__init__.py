"""The transactional outbox: sends made in a transaction are written in it, and delivered after it.

``send_on_commit`` (and the Tasks backend, inside a transaction) calls :func:`record`:
one row in the caller's own transaction holds everything needed to send, so the
intent to send commits or rolls back with the data it belongs to. Right after the
commit the row is sent (the fast path); a row that could not be sent is delivered
by a relay (:class:`~.relay.Relay`: in the ASGI lifespan, or ``manage.py restate_relay``).

- ``models``: the table (``django_restate.OutboxMessage``, in the app's own migrations).
- ``record``: writing a row and the fast path after the commit.
- ``delivery``: sending one row through the client, the verdict on a failure, writing outcomes.
- ``marks``: the thread that writes down the fast path's outcomes (``flush()`` waits for it).
- ``relay``: claiming and delivering due rows, backing off, cleaning up.
- ``admin``: the admin's "Outbox" page.
"""

from .delivery import Outcome, Send, SendRequest
from .marks import flush
from .record import Pending, derive_key, record

__all__ = ["Outcome", "Pending", "Send", "SendRequest", "derive_key", "flush", "record"]

"""The errors django_restate raises on purpose; ``except RestateError`` catches every one.

``RestateClientError`` is the base of what :mod:`django_restate.client` raises;
``AdminAPIError`` / ``AdminAPIUnreachable`` are what :mod:`django_restate.admin_api` raises.
The ingress answers failures as JSON ``{"code", "message", "source"}``; ``source`` tells a handler's own
``TerminalError`` (:class:`HandlerError`) from a request the ingress refused
(:class:`IngressError`: unknown service, bad delay, ...). New errors of the package belong
here, or at least subclass :class:`RestateError`.
"""

from __future__ import annotations


class RestateError(Exception):
    """Base class of every error django_restate raises on purpose."""


class AdminAPIUnreachable(RestateError, ConnectionError):
    """Nothing answered at the admin API URL (refused, DNS, TLS, timeout). ``url`` has no credentials."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Cannot reach the Restate admin API at {url}: {reason}")
        self.url = url
        self.reason = reason


class AdminAPIError(RestateError, RuntimeError):
    """The admin API answered with an error status; ``message`` is Restate's own."""

    def __init__(self, method: str, url: str, status: int, message: str) -> None:
        super().__init__(f"Restate admin API {method} {url} answered {status}: {message}")
        self.url = url
        self.status = status
        self.message = message


class RestateClientError(RestateError):
    """Base class of every error raised by the client."""


class IngressUnreachable(RestateClientError, ConnectionError):
    """Nothing answered at the ingress URL (connection refused, DNS, TLS, ...)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"Cannot reach the Restate ingress at {url}: {reason}. Is restate-server running, "
            "and does RESTATE['INGRESS_URL'] point at its ingress (port 8080 by default)?"
        )
        self.url = url
        self.reason = reason


class IngressOutcomeUnknown(IngressUnreachable):
    """The connection broke after the request was sent, and the request had no idempotency key.

    Restate may or may not have started the invocation, so the client does not guess and does
    not send it again. With ``idempotency_key=`` the client retries such a request itself, and
    Restate runs the handler at most once however often the request arrives.
    """

    def __init__(self, url: str, reason: str, target: str) -> None:
        RestateClientError.__init__(
            self,
            f"The connection to the Restate ingress at {url} broke after the request for {target} was sent "
            f"({reason}): whether Restate started the invocation is unknown, and without an idempotency key "
            "it is not sent again. Pass idempotency_key= to make such a retry safe (the client then retries "
            "by itself), or check the invocation in the admin.",
        )
        self.url = url
        self.reason = reason
        self.target = target


class IngressTimeout(RestateClientError, TimeoutError):
    """The ingress accepted the request but did not answer in time.

    The invocation may still run and complete: Restate does not cancel it
    because the caller stopped waiting. To wait longer, ``send()`` it and
    ``attach()`` to the handle, or raise ``RESTATE["TIMEOUT"]``.
    """

    def __init__(self, url: str, timeout: float | None) -> None:
        super().__init__(
            f"The Restate ingress at {url} did not answer within {timeout}s. The invocation may still "
            "complete: send() it and attach() to the handle to wait longer."
        )
        self.url = url
        self.timeout = timeout


class _AnsweredError(RestateClientError):
    """An error Restate answered with a status code and a message, about one target."""

    #: How ``str(error)`` reads.
    template = "{target}: {status_code} {message}"

    def __init__(self, status_code: int, message: str, target: str, invocation_id: str | None = None) -> None:
        super().__init__(self.template.format(target=target, status_code=status_code, message=message))
        self.status_code = status_code
        self.message = message
        self.target = target
        self.invocation_id = invocation_id


class IngressError(_AnsweredError):
    """The ingress refused the request: an unknown service or handler, bad input, an unknown invocation."""


class InvocationNotReady(IngressError):
    """``output()`` of an invocation or workflow that exists but has not finished yet (HTTP 470)."""


class HandlerError(_AnsweredError):
    """The handler failed with a ``TerminalError``: ``status_code`` and ``message`` are the ones it raised."""

    template = "{target} failed with {status_code}: {message}"


class InvalidPayload(RestateClientError, ValueError):
    """A value does not fit the handler's annotation: an input before it is sent, or an output
    that came back in a shape the code no longer expects."""


class SendOnCommitFailed(InvalidPayload):
    """``send_on_commit`` refused a send before anything committed: its input cannot be encoded.

    This is the only failure ``send_on_commit`` has. Restate being unreachable when the
    transaction commits is not one: the send is in the transactional outbox, committed
    with the data, and a relay delivers it (``django_restate.outbox``).
    """

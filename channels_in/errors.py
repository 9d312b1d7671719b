from __future__ import annotations

from collections.abc import Callable


class ChannelError(Exception):
    """Base of the edges' own errors."""


class Ignored(ChannelError):
    """The message is stored but makes no ticket, for the reason given (a bounce matched to
    its delivery, an auto-reply answering nothing, …).

    `effect`, when given, is what the message does instead (a bounce marks its delivery
    failed): the pipeline runs it after the attempt's savepoint is rolled back, in the
    transaction that records the row as ignored, and stores the reason it returns."""

    def __init__(self, message: str = "", *, effect: Callable[[], str] | None = None) -> None:
        super().__init__(message)
        self.effect = effect


class Rejected(ChannelError):
    """The payload cannot be understood; stored as failed with this reason, never retried."""


class UnknownEvent(Rejected):
    """A provider event this adapter has no handler for."""


class DeliveryError(ChannelError):
    """Sending failed; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent

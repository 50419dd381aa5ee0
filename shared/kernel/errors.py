"""Domain errors that the service layer raises and the app turns into HTTP answers.

FieldError becomes 422 in the same shape as request validation ({"detail": [{"field", "reason"}]}), so a
client shows both alike; Conflict (an illegal state transition) becomes 409 with the reason; Forbidden (a
caller whose role is right but who is not a party to this record) 403; NotFound 404.
"""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class FieldErrors(ValueError):
    """Several rules broken at once: all are reported, so an applicant mends everything in one go."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class Conflict(RuntimeError):
    pass


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class RetryLater(Exception):
    """Not the event's fault: something it needs is not there yet (the database, the broker, a counter an operator
    must extend, another event). A consumer tries it again after a growing pause instead of dead-lettering it."""

"""The unit of work every entry into a service gets: an HTTP request or one consumed event.

It carries the session of the one transaction, the service's date, the province with its policy, and `emit`,
which adds an event to that transaction. The edge that made the unit commits it (shared.platform.deps for a
request, shared.platform.outbox.apply_once for an event); nothing below the edge commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import Session

from shared.kernel.events import Envelope, EventContract
from shared.kernel.policy import Policy
from shared.platform.outbox import emit, emit_many
from shared.platform.settings import ServiceSettings

P = TypeVar("P", bound=BaseModel)
S = TypeVar("S", bound=ServiceSettings, covariant=True)


@dataclass(frozen=True)
class Unit(Generic[S]):
    session: Session
    today: date
    settings: S
    policy: Policy  # the province's policy file, loaded and validated when the service started
    # How many events of each type this unit added to the outbox. A count, not the events: a batch's signing
    # emits 100,000 certificates, whose envelopes held here until the commit took 1.1 GB.
    emitted: Counter[str] = field(default_factory=Counter)
    # A request that may change something (any method but GET, HEAD, OPTIONS) or a consumed event: its loaders
    # lock the row they read (shared.platform.db.fetch), its SQLite transaction began holding the write lock.
    changing: bool = False

    @property
    def province(self) -> str:
        return self.settings.province

    def emit(self, contract: EventContract[P], *, subject: str, payload: P) -> Envelope[P]:
        """Adds the event to this unit's transaction, keyed by its subject (see shared.platform.outbox.emit)."""
        envelope = emit(self.session, contract, province=self.province, subject=subject, payload=payload)
        self.emitted[envelope.type] += 1
        return envelope

    def emit_many(self, contract: EventContract[P], events: Iterable[tuple[str, P]]) -> int:
        """Adds an event per (subject, payload) in one bulk insert (shared.platform.outbox.emit_many)."""
        count = emit_many(self.session, contract, province=self.province, events=events)
        self.emitted[contract.type] += count
        return count

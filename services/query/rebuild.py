"""How long a new read model took to read the log: from its creation until every consumer group has committed
the end offsets the topics had when this replica started.

The certificate, revocation and signing-key topics are compacted (latest event per key, kept for ever), so
the log is the whole state; a new Redis gets a new read model id, hence new consumer groups reading from the
start. Until they caught up the replica is not ready, so a load balancer sends it no lookups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kernel.events import EventContract

from .store import CertificateStore

log = logging.getLogger(__name__)


@dataclass
class RebuildWatch:
    bootstrap: str
    store: CertificateStore
    groups: dict[str, str]  # event type -> consumer group
    contracts: tuple[EventContract[Any], ...]
    root: str
    poll_seconds: float = 0.5
    # A new read model records how long its rebuild took; a restart (or an upgrade that renamed the consumer
    # groups) only waits, not ready, until its groups are caught up.
    record: bool = True
    caught_up: bool = False
    seconds: float | None = None
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self, created_at: float) -> None:
        targets = await self._end_offsets()
        self._task = asyncio.create_task(self._watch(created_at, targets))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _end_offsets(self) -> dict[str, dict[TopicPartition, int]]:
        """By group: the end offset of each partition of the topics it reads, as they are now."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            topics = await admin.list_topics()
            wanted = {
                contract.type: [t for t in sorted(topics) if re.match(contract.pattern(self.root), t)]
                for contract in self.contracts
            }
            names = sorted({t for matched in wanted.values() for t in matched})
            described = await admin.describe_topics(names) if names else []
        finally:
            await admin.close()
        partitions = {
            d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]] for d in described
        }
        every = [tp for tps in partitions.values() for tp in tps]
        ends: dict[TopicPartition, int] = {}
        if every:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await consumer.start()
            try:
                # Partitions it has no metadata for make the consumer fetch it and retry.
                ends = await consumer.end_offsets(every)
            finally:
                await consumer.stop()
        return {
            self.groups[kind]: {tp: ends[tp] for t in matched for tp in partitions.get(t, []) if ends[tp] > 0}
            for kind, matched in wanted.items()
        }

    async def _watch(self, created_at: float, targets: dict[str, dict[TopicPartition, int]]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            pending = {group: ends for group, ends in targets.items() if ends}
            while pending:
                for group, ends in list(pending.items()):
                    try:
                        committed = await admin.list_consumer_group_offsets(group)
                    except Exception as error:
                        # E.g. no group coordinator yet on a new broker (its offsets topic is being made): a watch
                        # that ended here would leave the replica not ready for ever. Looked at again next round.
                        log.warning(
                            "offsets of %s unknown yet, looking again: %s: %s", group, type(error).__name__, error
                        )
                        break
                    if all(tp in committed and committed[tp].offset >= end for tp, end in ends.items()):
                        del pending[group]
                if pending:
                    await asyncio.sleep(self.poll_seconds)
        finally:
            await admin.close()
        self.seconds = time.time() - created_at
        events = sum(sum(ends.values()) for ends in targets.values())
        if self.record:
            await self.store.record_rebuild(self.seconds, events)
            log.info("read model rebuilt from the log: %d events in %.1f s", events, self.seconds)
        else:
            log.info("consumer groups caught up with the log in %.1f s", self.seconds)
        self.caught_up = True


@dataclass
class RebuildRecorded:
    """What a worker that only reads (role `serve`) knows of the read model: it is ready once the projector has
    recorded in Redis that the read model read the log to its end. Looked up every `poll_seconds`, not per
    lookup; a restarted projector catching up leaves the workers ready (what they serve is there, at most as old
    as the restart)."""

    store: CertificateStore
    poll_seconds: float = 1.0
    caught_up: bool = False
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        await self.look()
        self._task = asyncio.create_task(self._watch())

    async def look(self) -> None:
        try:
            self.caught_up = "rebuilt_in_seconds" in await self.store.model_info()
        except Exception as error:  # Redis away: not ready, and /readyz says so
            log.warning("read model state unknown: %s", error)
            self.caught_up = False

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self.look()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class ReadModelReadiness:
    """Whether this replica's read model has caught up with the log: what `/readyz` reports and what the public
    lookups wait for. Until then a lookup would answer "not on record" for certificates that exist and count it
    as the client's miss, so the lookups answer 503 with Retry-After instead, and count nothing."""

    watches: list[RebuildWatch | RebuildRecorded] = field(default_factory=list)
    # The consumer groups are subscribed at start-up, after Redis names the read model: until then no watch
    # exists yet and nothing has caught up. False when the groups were fixed up front (documentation, tests).
    awaits_watch: bool = True

    @property
    def caught_up(self) -> bool:
        return (bool(self.watches) or not self.awaits_watch) and all(w.caught_up for w in self.watches)

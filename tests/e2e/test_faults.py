"""Faults on the issuance path, through the real processes as `make up` runs them: a batch of a few thousand
candidates is approved, the certificates service is killed (-9) while it numbers the batch and restarted, then
the broker is killed (-9) while the relay publishes the certificates and restarted on its data. In the end
every passing candidate has exactly one certificate, the serials have no gap, nothing is left unsent and every
certificate is found in the public lookup. Then a province is backed up during a batch, lost, and restored
from the backup (infra/backup.py): it catches up from the log with nothing lost or doubled.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra import backup
from infra.stack import PROVINCIAL_SERVICES, Stack
from infra.walkthrough import ProvinceClients, eventually, expect, plan_batch, ready_for_approval
from shared.kernel.numbering import CertificateNumber
from shared.platform.auth import PARTNER_HEADER

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

CANDIDATES = 3000  # six parts of 500: the numbering and the relay each last long enough to be interrupted
BACKUP_BATCHES = {62: 1200, 63: 800}  # organization number: candidates


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    """The suite with a broker of its own (kafka_bootstrap=None), so the test may kill it."""
    suite = Stack(
        var_dir=tmp_path_factory.mktemp("var"),
        fixed_ports=False,
        redis_url=redis_url,
        topic_root=f"faults{uuid.uuid4().hex[:8]}",
    )
    try:
        suite.start()
        yield suite
    finally:
        suite.stop()


def one(database: Path, sql: str, *parameters: object) -> int:
    """One number read from a service's SQLite database, as an operator would read it (WAL: no lock taken)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as connection:
        return int(connection.execute(sql, parameters).fetchone()[0])


async def until(condition: object, *, within: float = 120, every: float = 0.01) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the state awaited did not come")
        await asyncio.sleep(every)


@dataclass(frozen=True)
class Issuance:
    """What an operator reads in a province's certificates database about one batch."""

    database: Path
    batch_id: str

    def numbered(self) -> int:
        try:
            return one(self.database, "select count(*) from certificate where batch_id = ?", self.batch_id)
        except sqlite3.OperationalError:  # no table until the service has migrated (or the file is restored)
            return 0

    def signed(self) -> int:
        sql = "select count(*) from certificate where batch_id = ? and signed_batch_id is not null"
        return one(self.database, sql, self.batch_id)

    def unsent(self) -> int:
        return one(self.database, "select count(*) from outbox_event where sent_at is null")

    def numbers(self) -> list[str]:
        with closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)) as connection:
            sql = "select number from certificate where batch_id = ?"
            return [row[0] for row in connection.execute(sql, (self.batch_id,))]

    def assert_one_per_candidate(self, candidates: int) -> list[str]:
        """Exactly one certificate per passing candidate, the serials without a gap; the numbers."""
        assert self.numbered() == candidates
        distinct = "select count(distinct candidate_id) from certificate where batch_id = ?"
        assert one(self.database, distinct, self.batch_id) == candidates
        numbers = self.numbers()
        serials = sorted(CertificateNumber.parse(number).serial for number in numbers)
        assert serials == list(range(serials[0], serials[0] + candidates))
        return numbers


@asynccontextmanager
async def province_clients(stack: Stack, province: str) -> AsyncIterator[ProvinceClients]:
    clients = [httpx.AsyncClient(base_url=stack.url(s, province), timeout=120) for s in PROVINCIAL_SERVICES]
    try:
        yield ProvinceClients(province, *clients)
    finally:
        for client in clients:
            await client.aclose()


async def approved_batch(stack: Stack, walk: ProvinceClients, *, number: int, candidates: int) -> str:
    """A batch of `candidates` passing candidates taken to the province's approval, which sends it to certificates."""
    batch = await plan_batch(walk, stack.token, number=number, candidates=candidates)
    await ready_for_approval(walk.recognition, batch, stack.token, walk.province)
    official = stack.token(walk.province, "province_official")
    expect(await walk.recognition.post(f"/batches/{batch['id']}/approve", headers=official), 200)
    return str(batch["id"])


async def assert_in_public_lookup(stack: Stack, numbers: list[str]) -> None:
    """Every certificate is found in the public lookup (asked as a partner system, outside fair use)."""
    partner = {PARTNER_HEADER: stack.partner_key()}
    async with httpx.AsyncClient(base_url=stack.url("query"), timeout=30, headers=partner) as query:
        gate = asyncio.Semaphore(8)

        async def found(number: str) -> bool:
            async with gate:
                return (await query.get(f"/certificates/{number}")).status_code == 200

        async def all_found() -> bool:
            return all(await asyncio.gather(*(found(number) for number in numbers)))

        await eventually(all_found, within=180, what="every certificate in the public lookup")


async def test_kill_certificates_and_the_broker_during_a_batch(stack: Stack) -> None:
    province = "33"
    async with province_clients(stack, province) as walk:
        batch_id = await approved_batch(stack, walk, number=61, candidates=CANDIDATES)
    issuance = Issuance(stack.var_dir / "db" / f"{province}-certificates.db", batch_id)

    # kill -9 while the parts are being numbered (or, should the machine be quick, right after)
    await until(lambda: issuance.numbered() > 0)
    stack.kill(f"certificates-{province}")
    numbered_at_kill = issuance.numbered()
    stack.restart(f"certificates-{province}")

    # kill -9 of the broker while the relay publishes the signed batch's events
    await until(lambda: issuance.signed() == CANDIDATES and issuance.unsent() < CANDIDATES, within=300, every=0.002)
    unsent_at_kill = issuance.unsent()
    stack.kill("kafka")
    await asyncio.sleep(2)
    stack.restart("kafka")
    print(f"killed certificates at {numbered_at_kill} numbered, the broker at {unsent_at_kill} unsent")

    await until(lambda: issuance.unsent() == 0, within=300, every=0.5)
    recognition_db = stack.var_dir / "db" / f"{province}-recognition.db"
    assert one(recognition_db, "select count(*) from outbox_event where sent_at is null") == 0
    await assert_in_public_lookup(stack, issuance.assert_one_per_candidate(CANDIDATES))


async def test_a_backup_taken_during_a_batch_is_restored_and_catches_up_from_the_log(
    stack: Stack, tmp_path: Path
) -> None:
    """The province's machine is lost after two batches were issued; its backup, taken while they were being
    numbered, is restored on a fresh one (no databases) and the services read the log again from the backup's
    offsets: the same certificates under the same numbers and status bits, no more, no fewer."""
    province = "33"
    async with province_clients(stack, province) as walk:
        official = stack.token(province, "province_official")
        batches = {}
        for number, candidates in BACKUP_BATCHES.items():
            batch = await plan_batch(walk, stack.token, number=number, candidates=candidates)
            batches[str(batch["id"])] = candidates
            await ready_for_approval(walk.recognition, batch, stack.token, province)
        for batch_id in batches:  # approved one after the other: certificates numbers them in that order
            expect(await walk.recognition.post(f"/batches/{batch_id}/approve", headers=official), 200)
    database = stack.var_dir / "db" / f"{province}-certificates.db"
    issuances = [(Issuance(database, batch_id), candidates) for batch_id, candidates in batches.items()]
    first, _ = issuances[0]

    await until(lambda: first.numbered() > 0)
    assert stack.kafka_bootstrap is not None
    backup_dir = tmp_path / "backup"
    manifest = await backup.create(
        var_dir=stack.var_dir,
        province=province,
        bootstrap=stack.kafka_bootstrap,
        topic_root=stack.topic_root,
        to=backup_dir,
    )
    in_backup = sum(Issuance(backup_dir / database.name, batch_id).numbered() for batch_id in batches)
    assert in_backup < sum(batches.values()), "the backup was to be taken during the batches"
    assert manifest.offsets, "the province's consumer groups' offsets are recorded"

    def caught_up() -> bool:
        return first.unsent() == 0 and all(issuance.signed() == n for issuance, n in issuances)

    # The batches go on to the end: every certificate numbered, signed, published and in the public lookup.
    await until(caught_up, within=300, every=0.5)
    published = {issuance.batch_id: issuance.assert_one_per_candidate(n) for issuance, n in issuances}
    await assert_in_public_lookup(stack, [number for numbers in published.values() for number in numbers])

    # The machine is lost: the province's services die and its databases are gone.
    services = [f"{service}-{province}" for service in PROVINCIAL_SERVICES]
    for name in services:
        stack.kill(name)
    for lost in (stack.var_dir / "db").glob(f"{province}-*"):
        lost.unlink()
    await backup.restore(backup=backup_dir, var_dir=stack.var_dir, bootstrap=stack.kafka_bootstrap)
    for name in services:
        stack.restart(name)

    await until(caught_up, within=300, every=0.5)
    for issuance, candidates in issuances:
        assert sorted(issuance.assert_one_per_candidate(candidates)) == sorted(published[issuance.batch_id])
    # Each certificate on record as the log has it: same holder, same status bit, one number per holder.
    differences = await backup.differences_from_log(
        var_dir=stack.var_dir, province=province, bootstrap=stack.kafka_bootstrap, topic_root=stack.topic_root
    )
    assert differences == []
    print(f"backup at {in_backup} of {sum(batches.values())} numbered, {len(manifest.offsets)} groups' offsets")
    # What recognition had accepted before the backup is there: the batches, approved.
    async with province_clients(stack, province) as walk:
        for batch_id in batches:
            batch = expect(await walk.recognition.get(f"/batches/{batch_id}", headers=official), 200)
            assert batch["status"] == "approved"

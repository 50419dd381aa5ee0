"""Backup and restore of one province: its services' databases, its keys, and where each of its consumers
stood in the log.

    python -m infra.backup create --province 33 [--var var] [--to backups/33-20261203T1200]
    python -m infra.backup restore backups/33-20261203T1200 [--var var]
    python -m infra.backup check --province 33        # once caught up: the certificates as the log has them

A backup may be taken while the province works. It records first each consumer group's committed offsets,
then takes each database (SQLite's online backup: one consistent snapshot per file, writers go on), then
copies the keys directory. A consumer commits its offsets only after its transaction commits, so every event
behind a recorded offset is in the snapshot; the events between the offset and the snapshot are applied
again after a restore and skipped, since each consumer applies an event once by its id (`processed_event`).

A restore, with the province's services stopped, puts the databases and keys back and sets each group's
offsets to the recorded ones (a group the backup did not know starts from the beginning of its topics). On
start the services read the log again from there: what the province received after the backup is applied
again, and what it had produced after the backup is produced again from the same inputs (certificates
numbered in the order the parts arrive, which the log keeps); outbox rows unsent in the snapshot are sent.
Limits are in docs/operations.md (Backup and restore).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from infra.dead_letters import read_topic
from shared.kernel.events import CERTIFICATE_ISSUED, CertificateIssued
from shared.kernel.privacy import mask_id_number
from shared.platform.settings import VAR_DIR

PROVINCIAL_SERVICES = ("registry", "recognition", "certificates", "supervision")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    province: str
    topic_root: str
    taken_at: str
    databases: list[str]
    # group -> "topic:partition" -> the next offset the group would read
    offsets: dict[str, dict[str, int]]


def database_path(var_dir: Path, province: str, service: str) -> Path:
    """Where `make up` keeps a province service's SQLite database (infra/stack.py)."""
    return var_dir / "db" / f"{province}-{service}.db"


def group_prefixes(topic_root: str, province: str) -> tuple[str, ...]:
    """The province's own consumer groups (shared.platform.bus.group_id): not the shared query service's, which
    may run under a province code too and is rebuilt from the log, never restored."""
    return tuple(f"{topic_root}-{province}-{service}-" for service in PROVINCIAL_SERVICES)


async def committed_offsets(bootstrap: str, prefixes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = sorted(group for group, *_ in await admin.list_consumer_groups() if group.startswith(prefixes))
        offsets: dict[str, dict[str, int]] = {}
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            offsets[group] = {
                f"{tp.topic}:{tp.partition}": position.offset
                for tp, position in committed.items()
                if position.offset >= 0
            }
        return offsets
    finally:
        await admin.close()


def snapshot_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the service goes on writing (WAL). The copy is one file
    (rollback journal); the service turns WAL on again when it opens the restored database."""
    with closing(sqlite3.connect(source, timeout=30)) as live, closing(sqlite3.connect(target)) as copy:
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")


async def create(*, var_dir: Path, province: str, bootstrap: str, topic_root: str, to: Path) -> Manifest:
    # Offsets before the databases: an event behind a recorded offset is then in the snapshot for certain.
    offsets = await committed_offsets(bootstrap, group_prefixes(topic_root, province))
    return write_backup(var_dir=var_dir, province=province, topic_root=topic_root, offsets=offsets, to=to)


def write_backup(
    *, var_dir: Path, province: str, topic_root: str, offsets: dict[str, dict[str, int]], to: Path
) -> Manifest:
    to.mkdir(parents=True, exist_ok=False)
    to.chmod(0o700)  # it holds the province's private keys
    databases = []
    for service in PROVINCIAL_SERVICES:
        source = database_path(var_dir, province, service)
        if source.exists():
            snapshot_sqlite(source, to / source.name)
            databases.append(source.name)
    keys = var_dir / "keys"
    if keys.exists():
        shutil.copytree(keys, to / "keys")
    clock = var_dir / "clock" / f"{province}.days"  # a training deployment's moved date
    if clock.exists():
        (to / "clock").mkdir()
        shutil.copy2(clock, to / "clock" / clock.name)
    manifest = Manifest(province, topic_root, datetime.now(UTC).isoformat(timespec="seconds"), databases, offsets)
    (to / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2))
    return manifest


def read_manifest(backup: Path) -> Manifest:
    return Manifest(**json.loads((backup / MANIFEST).read_text()))


def _partitions(positions: Iterable[str]) -> list[TopicPartition]:
    return [TopicPartition(topic, int(partition)) for topic, partition in (p.rsplit(":", 1) for p in positions)]


async def set_offsets(
    bootstrap: str, group: str, offsets: dict[str, int], *, also_from_start: Iterable[str] = (), within: float = 120
) -> None:
    """Commits the group's offsets; the partitions in `also_from_start` go back to the start of their log. The
    group must have no members: a killed service's are dropped by the broker after the session timeout, so this
    tries again until then."""
    if not offsets and not also_from_start:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        restart = _partitions(also_from_start)
        consumer.assign(_partitions(offsets) + restart)
        starts = await consumer.beginning_offsets(restart) if restart else {}
        wanted = {tp: OffsetAndMetadata(offsets[f"{tp.topic}:{tp.partition}"], "") for tp in _partitions(offsets)}
        wanted |= {tp: OffsetAndMetadata(start, "") for tp, start in starts.items()}
        deadline = time.monotonic() + within
        while True:
            try:
                await consumer.commit(wanted)
                return
            except KafkaError as error:
                if time.monotonic() > deadline:
                    message = f"could not set the offsets of {group} (are its services stopped?): {error}"
                    raise RuntimeError(message) from error
                await asyncio.sleep(1)
    finally:
        await consumer.stop()


async def restore(*, backup: Path, var_dir: Path, bootstrap: str) -> Manifest:
    """Puts a backup back into `var_dir` with the province's services stopped, and rewinds its groups."""
    manifest = put_back(backup=backup, var_dir=var_dir)
    now = await committed_offsets(bootstrap, group_prefixes(manifest.topic_root, manifest.province))
    for group in sorted(set(now) | set(manifest.offsets)):
        recorded = manifest.offsets.get(group, {})
        # What a group read after the backup, on partitions the backup has no offset for, is read again.
        await set_offsets(bootstrap, group, recorded, also_from_start=set(now.get(group, {})) - set(recorded))
    return manifest


def put_back(*, backup: Path, var_dir: Path) -> Manifest:
    """The databases (replacing any, with their WAL files), the keys and the training clock."""
    manifest = read_manifest(backup)
    db_dir = var_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    for service in PROVINCIAL_SERVICES:
        live = database_path(var_dir, manifest.province, service)
        for stale in (live, live.with_name(live.name + "-wal"), live.with_name(live.name + "-shm")):
            stale.unlink(missing_ok=True)
    for name in manifest.databases:
        shutil.copy2(backup / name, db_dir / name)
    if (backup / "keys").exists():
        shutil.copytree(backup / "keys", var_dir / "keys", dirs_exist_ok=True)
    if (backup / "clock").exists():
        (var_dir / "clock").mkdir(parents=True, exist_ok=True)
        for clock in (backup / "clock").iterdir():
            shutil.copy2(clock, var_dir / "clock" / clock.name)
    return manifest


async def differences_from_log(*, var_dir: Path, province: str, bootstrap: str, topic_root: str) -> list[str]:
    """What the province's certificates database says otherwise than the log of its certificate-issued events:
    a certificate published but not on record (lost), a holder of a batch with two numbers (doubled), or a
    number whose holder or status bit differs. Empty once a restored province has caught up."""
    published: dict[str, CertificateIssued] = {}
    for message in await read_topic(bootstrap, CERTIFICATE_ISSUED.topic(province, topic_root)):
        if message.value is not None:
            issued = CERTIFICATE_ISSUED.parse(message.value).payload
            published[issued.certificate_number] = issued  # the latest event per number, as compaction keeps it
    database = database_path(var_dir, province, "certificates")
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as connection:
        rows = connection.execute("select number, batch_id, id_number, status_index from certificate").fetchall()
    on_record = {number: (batch_id, id_number, status_index) for number, batch_id, id_number, status_index in rows}
    problems = []
    numbers_of: dict[tuple[str, str], set[str]] = {}
    for number, issued in sorted(published.items()):
        numbers_of.setdefault((issued.batch_id, issued.id_number), set()).add(number)
        if number not in on_record:
            problems.append(f"{number}: published, not on record")
        elif on_record[number] != (issued.batch_id, issued.id_number, issued.status_index):
            problems.append(f"{number}: published for another holder or status bit than on record")
    for (batch_id, id_number), numbers in sorted(numbers_of.items()):
        if len(numbers) > 1:
            problems.append(f"batch {batch_id}: one holder ({mask_id_number(id_number)}) under {sorted(numbers)}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--var", type=Path, default=VAR_DIR, help="the installation's var directory")
    parser.add_argument("--kafka", default="127.0.0.1:9092", help="bootstrap servers")
    parser.add_argument("--topic-root", default="skillcert")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="back a province up while it runs")
    make.add_argument("--province", required=True)
    make.add_argument("--to", type=Path, help="a new directory (default backups/<province>-<time>)")
    back = commands.add_parser("restore", help="restore a backup, the province's services stopped")
    back.add_argument("backup", type=Path)
    check = commands.add_parser("check", help="after a restore has caught up: the certificates as the log has them")
    check.add_argument("--province", required=True)
    arguments = parser.parse_args()
    if arguments.command == "create":
        to = arguments.to or Path("backups") / f"{arguments.province}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        manifest = asyncio.run(
            create(
                var_dir=arguments.var,
                province=arguments.province,
                bootstrap=arguments.kafka,
                topic_root=arguments.topic_root,
                to=to,
            )
        )
        print(f"backed up province {manifest.province} to {to}: {len(manifest.databases)} databases, keys, ", end="")
        print(f"{len(manifest.offsets)} consumer groups' offsets")
    elif arguments.command == "check":
        problems = asyncio.run(
            differences_from_log(
                var_dir=arguments.var,
                province=arguments.province,
                bootstrap=arguments.kafka,
                topic_root=arguments.topic_root,
            )
        )
        print("\n".join(problems) or f"province {arguments.province}: every certificate as the log has it")
        raise SystemExit(1 if problems else 0)
    else:
        manifest = asyncio.run(restore(backup=arguments.backup, var_dir=arguments.var, bootstrap=arguments.kafka))
        print(f"restored province {manifest.province} from {arguments.backup} (taken {manifest.taken_at}); start its")
        print("services: they read the log again from the backup's offsets")


if __name__ == "__main__":
    main()

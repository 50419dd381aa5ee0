"""Benchmark: a new Redis rebuilt from the compacted log of N certificates of three provinces (issue 20, target 4).

    .venv/bin/python -m bench.rebuild --certificates 1000000 [--py-spy FILE]

Untimed setup: its own Kafka and Redis (the launcher of `make up`); the topics as the services create them (3
partitions, the compacted ones compacted); for each of provinces 31, 32 and 33 a signing key (`signing key
published`) and `ORGANIZATIONS` filed organizations (`organization filed`), then N `certificate issued` events,
spread evenly over the provinces and their organizations, produced with aiokafka in large batches. Each carries a
real credential made with the kernel's functions as the certificates service makes it (the same claims, a salt
each, `salted_target_hash`, one Merkle tree and one Ed25519 signature per signed batch of `SIGNED_BATCH` (2,000)
certificates, fewer in a small run, `credential_document`), so the projector verifies each one in full: integrity,
the Merkle path and the root's signature against the trust list, and the organization's filing.

Timed: the query service as deployed, on that fresh Redis: one projector process (`QUERY_ROLE=project`) and one
serving worker (`QUERY_ROLE=serve`), started together. Reported:

- `ready_seconds`: from starting them until the worker's `/readyz` answers 200 (the projector recorded that every
  consumer group committed the log's end), and `rebuilt_in_seconds`, the projector's own record (from the read
  model's creation); `certificates_per_second`: N over `ready_seconds`;
- `redis_bytes_per_certificate`: Redis `used_memory` after, less before, over N; against it `document_bytes`, the
  mean size of the stored document (`cert:<number>`, the `CertificateView` JSON served) and
  `document_memory_bytes`, Redis's `MEMORY USAGE` of one (key and overhead), and of a holder index entry;
- `projector_peak_rss_mb`: the projector's peak resident memory (sampled every 0.25 s); `--projectors N` starts N
  of them, which share the consumer groups and split the partitions (docs/query.md, Replicas): the figures are then
  the largest's peak and their CPU time summed;
- `projector_cpu_seconds` (its start-up included) and `certificates_per_projector_cpu_second`: what the projector
  would do on a core of its own (the wall-clock figures depend on what else runs on the machine), and the CPU time
  Kafka and Redis took meanwhile when this run started them (`kafka_cpu_seconds`, `redis_cpu_seconds`);
- a check: no certificate waits for a key or a filing, and a sample of documents is fully verified.

`--py-spy FILE` records the (first) projector with py-spy (`/tmp/spy/bin/py-spy` or on PATH) for `--py-spy-seconds`
from `--py-spy-delay` seconds after its start (past its start-up), in py-spy's raw (collapsed stacks) format.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis import Redis
from stdnum.cn import ric

from bench.system import RssSampler, cpu_seconds, own_servers, spawn, stop
from infra.servers import free_port
from shared.kernel import credentials
from shared.kernel.credentials import StatusEntry
from shared.kernel.events import (
    CERTIFICATE_ISSUED,
    ORGANIZATION_FILED,
    SIGNING_KEY_PUBLISHED,
    CertificateIssued,
    OrganizationFiled,
    ScopeItem,
    SigningKeyPublished,
)
from shared.kernel.identity import RESIDENT_ID_CARD
from shared.kernel.numbering import CertificateNumber, FilingCode, Level

ROOT = "skillcert"
PREFIX = "bench:"
ID_HASH_KEY = "bench-id-hash-key"
PROVINCES = {
    "31": ("上海市人力资源和社会保障局", "310101"),
    "32": ("江苏省人力资源和社会保障厅", "320102"),
    "33": ("浙江省人力资源和社会保障厅", "330106"),
}
ORGANIZATIONS = 20  # per province
SIGNED_BATCH = 2_000  # certificates under one Merkle root and one signature
ISSUED_ON = date(2026, 6, 1)
BASE_URL = "https://query.skillcert.example.cn"
# As the certificates service writes them (services/certificates/service.py).
BODY_TEXT = "持证人经职业技能等级认定，技能水平达到本证书所载职业（工种）等级，特发此证。"
OCCUPATIONS = [("6-18-01-01", "车工", None), ("4-07-02-03", "育婴员", None), ("6-29-01-06", "电工", "维修电工")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"


def organization_code(province: str, sequence: int) -> str:
    return str(FilingCode("S", "0000", province, sequence))


def organization_filed(province: str, sequence: int) -> OrganizationFiled:
    return OrganizationFiled(
        filing_code=organization_code(province, sequence),
        name=f"第{sequence}职业技能评价中心",
        credit_code=f"52{province}0000MJ{sequence:08d}"[:18],
        org_type="social_organization",
        province=province,
        city=f"{province}01",
        address=f"{PROVINCES[province][0][:2]}某路{sequence}号",
        scope=[
            ScopeItem(occupation_code=code, occupation_name=name, work_type=work, levels=[3, 4, 5])
            for code, name, work in OCCUPATIONS
        ],
        filed_on=date(2025, 1, 1),
        valid_until=date(2029, 12, 31),
        contact="李老师",
        phone="0571-88888888",
    )


def id_number(region: str, serial: int) -> str:
    born = date(1970, 1, 1).toordinal() + serial % 12_000
    first = f"{region}{date.fromordinal(born):%Y%m%d}{serial % 1000:03d}"
    return first + ric.calc_check_digit(first + "0")


def signed_batch(
    province: str, organization: int, serials: range, key: Ed25519PrivateKey, key_id: str, status_base: int
) -> list[bytes]:
    """The `certificate issued` envelopes (JSON) of one signed batch, as the certificates service makes them."""
    department, region = PROVINCES[province]
    code = organization_code(province, organization)
    occupation, occupation_name, work_type = OCCUPATIONS[organization % len(OCCUPATIONS)]
    level = Level(4 if organization % 2 else 3)
    status_list = f"{BASE_URL}/status-lists/{province}/0"
    rows = []
    for offset, serial in enumerate(serials):
        number = str(CertificateNumber(FilingCode.parse(code), ISSUED_ON.year % 100, level, serial))
        name = SURNAMES[serial % len(SURNAMES)] + GIVEN[(serial // 7) % len(GIVEN)] + GIVEN[serial % len(GIVEN)]
        holder_id = id_number(region, serial * 61 + organization)
        index = (status_base + offset) % credentials.STATUS_LIST_SIZE
        claims: dict[str, Any] = {
            "certificateNumber": number,
            "title": credentials.CERTIFICATE_TITLE,
            "body": BODY_TEXT,
            "holderName": name,
            "idType": RESIDENT_ID_CARD,
            "idNumber": holder_id,
            "occupationCode": occupation,
            "occupationName": occupation_name,
            "workType": work_type or "--",
            "level": int(level),
            "levelTitle": level.title,
            "organizationCode": code,
            "organizationName": f"第{organization}职业技能评价中心",
            "province": province,
            "issuedOn": ISSUED_ON.isoformat(),
            "lookupUrl": f"{BASE_URL}/certificates/{number}",
            "organizationLookupUrl": f"{BASE_URL}/organizations/{code}",
            "statusListCredential": status_list,
            "statusListIndex": index,
        }
        salts = credentials.new_salts(claims)
        rows.append((claims, salts, credentials.salted_target_hash(claims, salts), index))
    tree = credentials.MerkleTree([bytes.fromhex(target) for _claims, _salts, target, _index in rows])
    signature = credentials.sign_root(key, tree.root)
    signed_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    envelopes = []
    for position, (claims, salts, target, index) in enumerate(rows):
        credential = credentials.credential_document(
            claims=claims,
            salts=salts,
            target=target,
            status=StatusEntry(status_list, index),
            issuer_name=department,
            key_id=key_id,
            merkle_root=tree.root.hex(),
            merkle_proof=tree.proof(position),
            signature=signature,
            signed_at=signed_at,
        )
        payload = CertificateIssued.model_construct(
            certificate_number=claims["certificateNumber"],
            holder_name=claims["holderName"],
            id_type=RESIDENT_ID_CARD,
            id_number=claims["idNumber"],
            occupation_code=occupation,
            occupation_name=occupation_name,
            work_type=work_type,
            level=int(level),
            level_title=level.title,
            organization_code=code,
            organization_name=claims["organizationName"],
            province=province,
            issued_on=ISSUED_ON,
            batch_id=f"{code}-{serials.start}",
            status_list=status_list,
            status_index=index,
            credential=credential,
        )
        envelope = CERTIFICATE_ISSUED.make(province=province, subject=payload.certificate_number, payload=payload)
        envelopes.append(envelope.model_dump_json().encode())
    return envelopes


def signed_batch_size(count: int) -> int:
    """`SIGNED_BATCH`, or less for a small run, so that each province gets three batches at least."""
    return min(SIGNED_BATCH, max(1, -(-count // (3 * len(PROVINCES)))))


def plan(count: int) -> Iterator[tuple[str, int, range]]:
    """(province, organization, serials) of each signed batch: the provinces and their organizations in turn."""
    per_owner: dict[tuple[str, int], int] = {}
    owners = [(province, organization) for organization in range(1, ORGANIZATIONS + 1) for province in PROVINCES]
    made, turn, batch = 0, 0, signed_batch_size(count)
    while made < count:
        owner = owners[turn % len(owners)]
        size = min(batch, count - made)
        first = per_owner.get(owner, 0) + 1
        per_owner[owner] = first + size - 1
        yield owner[0], owner[1], range(first, first + size)
        made += size
        turn += 1


async def produce(bootstrap: str, count: int, root: str) -> dict[str, Any]:
    """Every province's key and filings, then the certificates; returns what was produced."""
    keys = {province: Ed25519PrivateKey.generate() for province in PROVINCES}
    key_ids = {province: f"{province}-20260101-1" for province in PROVINCES}
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    sizes: list[int] = []
    started = time.perf_counter()
    try:
        for province in PROVINCES:
            published = SigningKeyPublished(
                key_id=key_ids[province],
                province=province,
                public_key=credentials.public_key_text(keys[province]),
                valid_from=date(2026, 1, 1),
            )
            key_event = SIGNING_KEY_PUBLISHED.make(province=province, subject=published.key_id, payload=published)
            await producer.send_and_wait(
                SIGNING_KEY_PUBLISHED.topic(province, root),
                key_event.model_dump_json().encode(),
                key=published.key_id.encode(),
            )
            for organization in range(1, ORGANIZATIONS + 1):
                filed = organization_filed(province, organization)
                envelope = ORGANIZATION_FILED.make(province=province, subject=filed.filing_code, payload=filed)
                await producer.send_and_wait(
                    ORGANIZATION_FILED.topic(province, root),
                    envelope.model_dump_json().encode(),
                    key=filed.filing_code.encode(),
                )
        status_base = dict.fromkeys(PROVINCES, 0)
        pending: list[asyncio.Future[Any]] = []
        for province, organization, serials in plan(count):
            envelopes = signed_batch(
                province, organization, serials, keys[province], key_ids[province], status_base[province]
            )
            status_base[province] += len(serials)
            topic = CERTIFICATE_ISSUED.topic(province, root)
            for body in envelopes:
                sizes.append(len(body))
                subject = body[body.index(b'"subject":"') + 11 :][:22]
                pending.append(await producer.send(topic, body, key=subject))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return {
        "produced_seconds": round(time.perf_counter() - started, 1),
        "event_bytes": round(sum(sizes) / max(len(sizes), 1)),
    }


async def ensure_topics(bootstrap: str, root: str) -> None:
    from services.query import flows
    from shared.platform.bus import ensure_topics as ensure

    contracts = list(flows.CONTRACTS)
    topics = {contract.topic(province, root): contract for contract in contracts for province in PROVINCES}
    await ensure(
        bootstrap,
        [
            topic
            for topic, contract in topics.items()
            if contract in (CERTIFICATE_ISSUED, SIGNING_KEY_PUBLISHED, ORGANIZATION_FILED)
        ],
        partitions=3,
        replication=1,
        client_id="bench-rebuild",
        configs={topic: contract.topic_config for topic, contract in topics.items() if contract.topic_config},
    )


def cpu_of(leader: int) -> float:
    return cpu_seconds({"process": leader})["process"]


def py_spy() -> str | None:
    return shutil.which("py-spy") or ("/tmp/spy/bin/py-spy" if Path("/tmp/spy/bin/py-spy").exists() else None)


def used_memory(redis: Any) -> int:
    return int(redis.info("memory")["used_memory"])


def sample_keys(redis: Any, pattern: str, count: int) -> list[bytes]:
    """Up to `count` keys matching `pattern`, the first a scan finds."""
    keys: list[bytes] = []
    cursor = 0
    while len(keys) < count:
        cursor, found = redis.scan(cursor, match=pattern, count=5000)
        keys += found
        if cursor == 0:
            break
    return keys[:count]


def document_figures(redis: Any, prefix: str) -> dict[str, Any]:
    """Sizes of a sample of stored documents and holder entries, and whether each document is fully verified."""
    keys = sample_keys(redis, f"{prefix}f3:cert:*", 500)
    documents = redis.mget(keys)
    sizes = [len(d) for d in documents if d]
    memory = [int(redis.memory_usage(k) or 0) for k in keys[:100]]
    unverified = [
        k.decode()
        for k, d in zip(keys, documents, strict=True)
        if d is None or not json.loads(d)["verification"]["verified"]
    ]
    holder_memory = [int(redis.memory_usage(k) or 0) for k in sample_keys(redis, f"{prefix}f3:holder:*", 100)]
    return {
        "document_bytes": round(sum(sizes) / max(len(sizes), 1)),
        "document_memory_bytes": round(sum(memory) / max(len(memory), 1)),
        "holder_memory_bytes": round(sum(holder_memory) / max(len(holder_memory), 1)),
        "sampled_documents": len(sizes),
        "sampled_not_verified": unverified[:5],
        "waiting_for_key_or_filing": int(redis.hlen(f"{prefix}f3:unverified")),
    }


def run(
    certificates: int = 100_000,
    *,
    kafka_bootstrap: str | None = None,
    redis_url: str | None = None,
    profile: str | None = None,
    profile_seconds: int = 30,
    profile_delay: float = 8,
    projectors_count: int = 1,
    within: float = 1800,
) -> dict[str, Any]:
    """Produces the log, then rebuilds a read model from it; the figures. On a shared broker or Redis (`make bench`)
    a topic root and key prefix of its own keep it apart; the Redis figures are then of the whole server."""
    work = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    processes: list[subprocess.Popen[bytes]] = []
    servers_started = contextlib.ExitStack()
    try:
        own = servers_started.enter_context(
            own_servers(work, kafka_bootstrap=kafka_bootstrap, redis_url=redis_url, root=ROOT, prefix=PREFIX)
        )
        kafka_bootstrap, redis_url, root, prefix = own.kafka_bootstrap, own.redis_url, own.root, own.prefix
        asyncio.run(ensure_topics(kafka_bootstrap, root))
        produced = asyncio.run(produce(kafka_bootstrap, certificates, root))
        redis: Any = Redis.from_url(redis_url)
        # CPU time over the rebuild of the servers this run started (on shared ones, others' work would count).
        servers = own.started
        before = used_memory(redis)
        common = {
            "QUERY_REDIS_URL": redis_url,
            "QUERY_REDIS_PREFIX": prefix,
            "QUERY_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "QUERY_TOPIC_ROOT": root,
            "QUERY_ID_HASH_KEY": ID_HASH_KEY,
            "QUERY_PROVINCE": "33",
            "QUERY_PUBLIC_BASE_URL": BASE_URL,
        }
        uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "services.query.app:create", "--host", "127.0.0.1"]
        uvicorn += ["--no-access-log", "--no-proxy-headers", "--workers", "1"]
        query_port = free_port()
        servers_cpu = {name: cpu_of(pid) for name, pid in servers.items()}
        started = time.perf_counter()
        projectors = [
            spawn(
                [*uvicorn, "--port", str(free_port())], {**common, "QUERY_ROLE": "project"}, work / f"projector-{n}.log"
            )
            for n in range(projectors_count)
        ]
        processes += projectors
        projector = projectors[0]
        serving = {"QUERY_ROLE": "serve", "QUERY_TRACE_SAMPLE_RATIO": "0.01"}
        processes.append(spawn([*uvicorn, "--port", str(query_port)], {**common, **serving}, work / "query.log"))
        rss = servers_started.enter_context(
            RssSampler(lambda: {f"projector-{n}": p.pid for n, p in enumerate(projectors)})
        )
        spy = None
        if profile is not None:
            binary = py_spy()
            if binary is None:
                raise RuntimeError("py-spy is not installed")
            # After the projector's start-up (its imports and group joins are not the rebuild).
            record = [binary, "record", "-p", str(projector.pid), "-d", str(profile_seconds), "-f", "raw"]
            spy = subprocess.Popen(
                ["sh", "-c", f'sleep {profile_delay} && exec "$@"', "py-spy", *record, "-o", profile],
                stdout=(work / "py-spy.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + within
        with httpx.Client(timeout=5) as client:
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the rebuild of {certificates} certificates was not ready within {within} s")
                for n, p in enumerate(projectors):
                    if p.poll() is not None:
                        raise RuntimeError(f"a projector ended: {(work / f'projector-{n}.log').read_text()[-3000:]}")
                try:
                    if client.get(f"http://127.0.0.1:{query_port}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        ready_seconds = time.perf_counter() - started
        projector_cpu = sum(cpu_of(p.pid) for p in projectors)
        cpu = {f"{name}_cpu_seconds": round(cpu_of(pid) - servers_cpu[name], 1) for name, pid in servers.items()}
        peak = max(rss.peaks(per_process=True).values(), default=0.0)  # the largest projector's, until ready
        if spy is not None:
            spy.wait(profile_delay + profile_seconds + 60)
        after = used_memory(redis)
        model = {k.decode(): v.decode() for k, v in redis.hgetall(f"{prefix}f3:model").items()}
        stored = sum(1 for _ in redis.scan_iter(match=f"{prefix}f3:cert:*", count=10_000))
        figures = document_figures(redis, prefix)
        redis.close()
        if stored != certificates:
            raise AssertionError(f"{stored} certificates in the read model, {certificates} produced")
        if figures["sampled_not_verified"] or figures["waiting_for_key_or_filing"]:
            raise AssertionError(f"not every certificate verified: {figures}")
        return {
            "certificates": certificates,
            "provinces": sorted(PROVINCES),
            "signed_batch": signed_batch_size(certificates),
            **produced,
            "ready_seconds": round(ready_seconds, 2),
            "rebuilt_in_seconds": float(model.get("rebuilt_in_seconds", "nan")),
            "rebuilt_events": int(model.get("rebuilt_events", "0")),
            "certificates_per_second": round(certificates / ready_seconds),
            "redis_used_memory_mb": round((after - before) / 1e6, 1),
            "redis_bytes_per_certificate": round((after - before) / certificates),
            **{k: v for k, v in figures.items() if k != "sampled_not_verified"},
            "projectors": projectors_count,
            "projector_peak_rss_mb": peak,
            # What one core would take with nothing else on it: the projector's CPU time, start-up included.
            "projector_cpu_seconds": round(projector_cpu, 1),
            "certificates_per_projector_cpu_second": round(certificates / projector_cpu),
            **cpu,
        }
    finally:
        for process in processes:
            stop(process)
        servers_started.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument(
        "--projectors", type=int, default=1, help="projector processes sharing the groups (deployed: 1)"
    )
    parser.add_argument("--py-spy", dest="profile", help="record the projector with py-spy into this file (raw)")
    parser.add_argument("--py-spy-seconds", dest="profile_seconds", type=int, default=30)
    parser.add_argument("--py-spy-delay", dest="profile_delay", type=float, default=8, help="seconds after its start")
    options = parser.parse_args()

    def stopped(*_: object) -> None:
        raise SystemExit(143)  # unwinds `run`, which stops the servers and processes it started

    signal.signal(signal.SIGTERM, stopped)
    print(
        json.dumps(
            run(
                options.certificates,
                profile=options.profile,
                profile_seconds=options.profile_seconds,
                profile_delay=options.profile_delay,
                projectors_count=options.projectors,
            )
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

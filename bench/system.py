"""What the benchmarks share about processes and servers: spawning and stopping a service as `make up` runs it,
the CPU time and memory of process trees read from /proc, and Kafka and Redis of a run's own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.servers import KafkaServer, RedisServer


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process leading a session of its own (its workers with it), its output appended to `log`."""
    return subprocess.Popen(
        args, env={**os.environ, **env}, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes], within: float = 30) -> None:
    """SIGTERM to the process's group, SIGKILL if it has not ended within `within` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(within)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    group: int
    cpu_seconds: float  # user + system so far
    rss_kib: int


def processes() -> list[Process]:
    """Every living process on the machine, read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/status") as status:
                rss = next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
        used = (int(fields[11]) + int(fields[12])) / ticks
        found.append(Process(int(entry.name), int(fields[1]), int(fields[2]), used, rss))
    return found


def by_leader(leaders: dict[str, int]) -> dict[str, list[Process]]:
    """The living processes of each named group: those in the leader's process group and their descendants
    (PostgreSQL's backends each lead a process group of their own)."""
    living = processes()
    owner = {p.pid: name for p in living for name, leader in leaders.items() if p.group == leader}
    parents = {p.pid: p.parent for p in living}

    def name_of(pid: int) -> str | None:
        for _ in range(64):  # a bounded walk up the tree
            if pid in owner:
                return owner[pid]
            if pid <= 1:
                return None
            pid = parents.get(pid, 0)
        return None

    members: dict[str, list[Process]] = {name: [] for name in leaders}
    for process in living:
        if (name := name_of(process.pid)) is not None:
            members[name].append(process)
    return members


def cpu_seconds(leaders: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) each named group (`by_leader`) has used so far, over its living processes."""
    return {name: sum(p.cpu_seconds for p in members) for name, members in by_leader(leaders).items()}


class RssSampler:
    """Samples the resident memory of named process groups in a thread; peaks in MB (10^6 bytes), of the group's
    sum and of its largest process (they differ for the query service: uvicorn's supervisor and two workers)."""

    def __init__(self, groups: Callable[[], dict[str, int]], every: float = 0.25) -> None:
        self.groups, self.every = groups, every
        self.peak_kib: dict[str, int] = {}
        self.process_peak_kib: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        for name, members in by_leader(self.groups()).items():
            if members:
                self.peak_kib[name] = max(self.peak_kib.get(name, 0), sum(p.rss_kib for p in members))
                self.process_peak_kib[name] = max(self.process_peak_kib.get(name, 0), max(p.rss_kib for p in members))
        self.samples += 1

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def peaks(self, per_process: bool = False) -> dict[str, float]:
        peaks = self.process_peak_kib if per_process else self.peak_kib
        return {name: round(kib * 1024 / 1e6, 1) for name, kib in sorted(peaks.items())}


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    redis_url: str
    root: str  # the topic root of the run
    prefix: str  # the Redis key prefix of the run
    started: dict[str, int]  # the servers this run started: name -> the leader of its processes


@contextlib.contextmanager
def own_servers(
    work: Path, *, kafka_bootstrap: str | None, redis_url: str | None, root: str, prefix: str
) -> Iterator[Servers]:
    """Kafka and Redis of the run's own (under `work`) unless given them; on a shared one, a topic root and a key
    prefix of its own keep the run apart from the others'. Stopped when the block ends."""
    kafka = KafkaServer(work / "kafka") if kafka_bootstrap is None else None
    redis = RedisServer(work / "redis") if redis_url is None else None
    if kafka is None or redis is None:
        root = f"bench{uuid.uuid4().hex[:8]}"
        prefix = f"{root}:{prefix}"
    try:
        if kafka is not None:
            kafka.start()
            kafka_bootstrap = kafka.bootstrap
        if redis is not None:
            redis.start()
            redis_url = redis.url
        assert kafka_bootstrap is not None and redis_url is not None
        started = {
            name: server.proc.process.pid
            for name, server in (("kafka", kafka), ("redis", redis))
            if server is not None and server.proc is not None and server.proc.process is not None
        }
        yield Servers(kafka_bootstrap, redis_url, root, prefix, started)
    finally:
        for server in (redis, kafka):
            if server is not None:
                server.stop()

"""Local servers for `make up`, the tests and the benchmarks: Apache Kafka (KRaft), Redis, PostgreSQL.

Each server runs as a child process bound to 127.0.0.1, with its data in a folder it is given, and
is stopped when the context manager exits. One launcher serves every use so that what the tests run
is what `make up` runs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
KAFKA_POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"
KAFKA_LOG4J = REPO_ROOT / "infra" / "kafka" / "log4j2.properties"


class ServerError(RuntimeError):
    """A local server could not be fetched or started; the message says why and where to look."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class ManagedProcess:
    """A child process with its log file; `stop` ends it and its children."""

    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    user: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        args = self.args
        if self.user:
            args = ["runuser", "-u", self.user, "--", *args]
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_until(self, ready: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerError(f"{self.name} exited early; log {self.log_path}:\n{self.log_tail()}")
            if callable(ready) and ready():
                return
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"{self.name} not ready after {timeout:.0f}s; log {self.log_path}:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to the process and its children, as a crash or the OOM killer would end them."""
        if not self.alive():
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- Kafka ---------------------------------------------------------------------------------------


def kafka_libs() -> Path:
    """The broker's jars, fetched from Maven Central once per pom version into .cache/."""
    digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:12]
    libs = CACHE_DIR / "kafka" / digest / "libs"
    if (libs / ".complete").exists():
        return libs
    if shutil.which("mvn") is None:
        raise ServerError("Maven (mvn) is not installed: run `make deps` or apt-get install maven")
    libs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ServerError(f"fetching Kafka from Maven Central failed:\n{result.stdout}\n{result.stderr}")
    (libs / ".complete").write_text(digest)
    return libs


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServerError("Java 17 is not installed: run `make deps` or apt-get install openjdk-17-jre-headless")
    return java


@dataclass
class KafkaServer:
    """A single-node KRaft broker+controller on loopback."""

    data_dir: Path
    port: int = 0
    controller_port: int = 0
    heap: str = "512m"
    partitions: int = 3
    proc: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _config(self) -> Path:
        log_dirs = self.data_dir / "logs"
        config = self.data_dir / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={log_dirs}",
                    f"num.partitions={self.partitions}",
                    "auto.create.topics.enable=true",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=-1",
                    "",
                ]
            )
        )
        return config

    def start(self, timeout: float = 90) -> None:
        libs = kafka_libs()
        java = java_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data_dir / "logs" / "meta.properties").exists()
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        config = self._config()
        classpath = f"{libs}/*"
        jvm = [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            "-cp",
            classpath,
        ]
        if fresh:
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            formatted = subprocess.run(
                # "=" form: a cluster id may start with "-", which argparse would take for an option.
                [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config)],
                capture_output=True,
                text=True,
            )
            if formatted.returncode != 0:
                raise ServerError(f"kafka storage format failed:\n{formatted.stdout}\n{formatted.stderr}")
        log_path = self.data_dir / "kafka.log"
        self.proc = ManagedProcess("kafka", [*jvm, "kafka.Kafka", str(config)], log_path)
        offset = log_path.stat().st_size if log_path.exists() else 0
        self.proc.start()

        def started() -> bool:
            with log_path.open("rb") as log:
                log.seek(offset)
                return b"Kafka Server started" in log.read() and port_open(self.port)

        self.proc.wait_until(started, timeout)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


@dataclass
class MirrorMaker:
    """MirrorMaker 2 (dedicated mode) copying topics matching `topics` from one cluster into another.

    The copies keep MM2's default naming, `<source alias>.<topic>`, which every pattern consumer accepts.
    """

    data_dir: Path
    source_alias: str
    source_bootstrap: str
    target_alias: str
    target_bootstrap: str
    topics: str
    heap: str = "256m"
    proc: ManagedProcess | None = None

    def _config(self) -> Path:
        source, target = self.source_alias, self.target_alias
        config = self.data_dir / "mm2.properties"
        config.write_text(
            "\n".join(
                [
                    f"clusters={source},{target}",
                    f"{source}.bootstrap.servers={self.source_bootstrap}",
                    f"{target}.bootstrap.servers={self.target_bootstrap}",
                    f"{source}->{target}.enabled=true",
                    f"{source}->{target}.topics={self.topics}",
                    f"{target}->{source}.enabled=false",
                    "replication.factor=1",
                    *(
                        f"{name}.replication.factor=1"
                        for name in (
                            "checkpoints.topic",
                            "heartbeats.topic",
                            "offset-syncs.topic",
                            "offset.storage",
                            "status.storage",
                            "config.storage",
                        )
                    ),
                    "sync.topic.acls.enabled=false",
                    "refresh.topics.interval.seconds=2",
                    "sync.topic.configs.interval.seconds=10",
                    "emit.checkpoints.enabled=false",
                    "",
                ]
            )
        )
        return config

    def start(self, timeout: float = 90) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        jvm = [
            java_binary(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            "-cp",
            f"{kafka_libs()}/*",
        ]
        log_path = self.data_dir / "mirror-maker.log"
        self.proc = ManagedProcess(
            "mirror-maker", [*jvm, "org.apache.kafka.connect.mirror.MirrorMaker", str(self._config())], log_path
        )
        self.proc.start()

        def started() -> bool:
            return b"Kafka MirrorMaker started" in log_path.read_bytes()

        self.proc.wait_until(started, timeout)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


# --- Redis ---------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    data_dir: Path
    port: int = 0
    proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerError("redis-server is not installed: run `make deps` or apt-get install redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "yes",
        ]
        self.proc = ManagedProcess("redis", args, self.data_dir / "redis.log")
        self.proc.start()
        self.proc.wait_until(lambda: port_open(self.port), timeout)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


# --- PostgreSQL ----------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        raise ServerError("PostgreSQL is not installed: run `make deps` or apt-get install postgresql")
    return candidates[0].parent


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster in data_dir (run as the `postgres` user when we are root)."""

    data_dir: Path
    port: int = 0
    proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://skillcert@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60) -> None:
        bin_dir = postgres_bin_dir()
        user = "postgres" if os.geteuid() == 0 else None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            for path in (self.data_dir, *self.data_dir.parents):
                if path == Path("/") or os.stat(path).st_uid == entry.pw_uid:
                    break
                os.chmod(path, os.stat(path).st_mode | 0o711)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        pgdata = self.data_dir / "pgdata"
        run_as = ["runuser", "-u", user, "--"] if user else []
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    *run_as,
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "skillcert",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
            )
        self.port = self.port or free_port()
        args = [
            str(bin_dir / "postgres"),
            "-D",
            str(pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.data_dir),
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
            # As docker-compose runs it: a certificate's claims and an event's 4 KB body are compressed out of line
            # (TOAST); lz4 costs a third less of the server's CPU than the default pglz (bench/README.md).
            "-c",
            "default_toast_compression=lz4",
        ]
        self.proc = ManagedProcess("postgres", args, self.data_dir / "postgres.log", user=user)
        self.proc.start()
        self.proc.wait_until(lambda: port_open(self.port), timeout)

    def create_database(self, name: str) -> str:
        """Creates database `name` and returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"postgresql://skillcert@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://skillcert@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


@contextlib.contextmanager
def running(server: KafkaServer | RedisServer | PostgresServer) -> Iterator[KafkaServer | RedisServer | PostgresServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()

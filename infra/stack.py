"""`make up`: the whole suite on one machine — Kafka, Redis, two provinces' services and the shared query.

    python -m infra.stack            # start everything, print where it is, Ctrl-C stops it all
    python -m infra.stack --demo     # the same, then walk one certificate through the flow

The end-to-end test starts the suite through the same `Stack` class, on free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.servers import KafkaServer, ManagedProcess, RedisServer, ServerError, free_port, port_open
from infra.walkthrough import ProvinceClients, WalkResult, eventually, walk_province
from shared.platform.auth import PARTNER_HEADER, Role, ensure_dev_keys, mint_token
from shared.platform.settings import VAR_DIR

PROVINCES = {"33": "浙江 Zhejiang", "32": "江苏 Jiangsu"}
# The public lookup runs as several workers behind one port, which only read Redis; one projector process applies
# the events to the read model (docs/query.md).
QUERY_WORKERS = 2
PROVINCIAL_SERVICES = ("registry", "recognition", "certificates", "supervision")
# Fixed ports for `make up` (the same in docker-compose.yml): query 8000, then 83<province digit><n>.
DEFAULT_PORTS = {
    "query": 8000,
    "query-projector": 8009,  # its /healthz and /readyz only
    **{
        f"{service}-{province}": int(f"8{province}{n}")
        for province in PROVINCES
        for n, service in enumerate(PROVINCIAL_SERVICES, start=1)
    },
}


@dataclass
class ServiceProcess:
    name: str
    service: str
    province: str
    port: int
    proc: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def recognition_settings(public_url: str) -> dict[str, str]:
    """Recognition checks prior certificates through the query service."""
    return {"QUERY_URL": public_url}


@dataclass
class Stack:
    var_dir: Path = VAR_DIR
    fixed_ports: bool = True
    kafka_bootstrap: str | None = None  # reuse a running broker instead of starting one
    redis_url: str | None = None
    topic_root: str = "skillcert"
    # `<service>-<province>` -> its database URL (PostgreSQL); the others get a SQLite file under var_dir/db.
    database_urls: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    _kafka: KafkaServer | None = None
    _redis: RedisServer | None = None

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    def id_hash_key(self) -> str:
        """The query service's HMAC key for ID numbers, made once per installation and kept secret."""
        return self._secret("query-id-hash.key")

    def partner_key(self) -> str:
        """The key recognition services (and the demo) show the query service so fair use does not limit them."""
        return self._secret("query-partner.key")

    def _secret(self, name: str) -> str:
        path = self.keys_dir / name
        if not path.exists():
            self.keys_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def _port(self, name: str) -> int:
        if not self.fixed_ports:
            return free_port()
        port = DEFAULT_PORTS[name]
        if port_open(port):
            raise ServerError(f"port {port} for {name} is in use: is the suite already running?")
        return port

    def start(self) -> None:
        for province in PROVINCES:
            ensure_dev_keys(self.keys_dir, province)
        if self.kafka_bootstrap is None:
            kafka_port = int(os.environ.get("SKILLCERT_KAFKA_PORT", "9092")) if self.fixed_ports else 0
            self._kafka = KafkaServer(self.var_dir / "kafka", port=kafka_port)
            self._kafka.start()
            self.kafka_bootstrap = self._kafka.bootstrap
        if self.redis_url is None:
            redis_port = int(os.environ.get("SKILLCERT_REDIS_PORT", "6380")) if self.fixed_ports else 0
            self._redis = RedisServer(self.var_dir / "redis", port=redis_port)
            self._redis.start()
            self.redis_url = self._redis.url
        query_port = self._port("query")
        public_url = f"http://127.0.0.1:{query_port}"
        for province in PROVINCES:
            for service in PROVINCIAL_SERVICES:
                extra = (
                    {**recognition_settings(public_url), "QUERY_PARTNER_KEY": self.partner_key()}
                    if service == "recognition"
                    else {}
                )
                self._spawn(service, province, self._port(f"{service}-{province}"), public_url, extra)
        query = {
            "REDIS_URL": self.redis_url,
            "ID_HASH_KEY": self.id_hash_key(),
            "REDIS_PREFIX": "" if self.topic_root == "skillcert" else f"{self.topic_root}:",
        }
        projector_port = self._port("query-projector")
        self._spawn("query", "33", projector_port, public_url, {**query, "ROLE": "project"}, name="query-projector")
        serving = {
            "ROLE": "serve",
            "PARTNER_KEYS": json.dumps([self.partner_key()]),
            "SUPERVISION_URLS": json.dumps(self.supervision_urls()),
        }
        self._spawn("query", "33", query_port, public_url, {**query, **serving}, workers=QUERY_WORKERS)
        self.wait_ready()

    def _spawn(
        self,
        service: str,
        province: str,
        port: int,
        public_url: str,
        extra: dict[str, str],
        workers: int = 1,
        name: str | None = None,
    ) -> None:
        name = name or ("query" if service == "query" else f"{service}-{province}")
        prefix = service.upper() + "_"
        assert self.kafka_bootstrap is not None
        settings = {
            "PROVINCE": province,
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "KEYS_DIR": str(self.keys_dir),
            "TOPIC_ROOT": self.topic_root,
            "PUBLIC_BASE_URL": public_url,
            "DATABASE_URL": self.database_url(service, province),
            **extra,
        }
        if service != "query":
            # The local suite is a training deployment: the walk-through moves each province's one clock (all
            # its services share the offset file) over publicity periods.
            settings |= {"ADJUSTABLE_CLOCK": "true", "CLOCK_FILE": str(self.var_dir / "clock" / f"{province}.days")}
        (self.var_dir / "db").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **{prefix + key: value for key, value in settings.items()}}
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.app:create",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            # uvicorn would otherwise take X-Forwarded-For from any local process (it trusts loopback); the query
            # service trusts it only from QUERY_TRUSTED_PROXIES, none here (docs/query.md, Fair use).
            "--no-proxy-headers",
            "--workers",
            str(workers),
        ]
        proc = ManagedProcess(name, args, self.var_dir / "logs" / f"{name}.log", env=env)
        proc.start()
        self.services[name] = ServiceProcess(name, service, province, port, proc)

    def database_url(self, service: str, province: str) -> str:
        return self.database_urls.get(f"{service}-{province}") or (
            f"sqlite:///{self.var_dir / 'db' / f'{province}-{service}.db'}"
        )

    def supervision_urls(self) -> dict[str, str]:
        """Where the query service forwards each running province's complaints (投诉举报, docs/query.md)."""
        return {province: self.services[f"supervision-{province}"].url for province in PROVINCES}

    def wait_ready(self, timeout: float = 120, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = {name: self.services[name] for name in names or self.services}
        while pending:
            for name, service in list(pending.items()):
                if not service.proc.alive():
                    raise ServerError(f"{name} exited; log {service.proc.log_path}:\n{service.proc.log_tail()}")
                try:
                    if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise ServerError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            time.sleep(0.3)

    def kill(self, name: str) -> None:
        """kill -9 of one service (with its workers) or of the broker ("kafka"), for the fault tests."""
        if name == "kafka":
            assert self._kafka is not None and self._kafka.proc is not None, "the broker is not this stack's"
            self._kafka.proc.kill()
        else:
            self.services[name].proc.kill()

    def restart(self, name: str) -> None:
        """Starts a killed service again on its port and data, and waits until it is ready; or the broker on its
        log directory and ports."""
        if name == "kafka":
            assert self._kafka is not None, "the broker is not this stack's"
            self._kafka.start()
        else:
            self.services[name].proc.start()
            self.wait_ready(names=[name])

    def stop(self) -> None:
        for service in self.services.values():
            service.proc.stop()
        for server in (self._redis, self._kafka):
            if server is not None:
                server.stop()

    def url(self, service: str, province: str | None = None) -> str:
        return self.services["query" if service == "query" else f"{service}-{province}"].url

    def token(
        self, province: str, role: Role | str, organization: str | None = None, region: str | None = None
    ) -> dict[str, str]:
        value = mint_token(
            self.keys_dir,
            province=province,
            role=Role(role),
            subject=f"demo-{role}",
            organization=organization,
            region=region,
        )
        return {"Authorization": f"Bearer {value}"}

    def describe(self) -> str:
        lines = [f"Kafka     {self.kafka_bootstrap}", f"Redis     {self.redis_url}"]
        for name, service in self.services.items():
            lines.append(f"{name:<24}{service.url}   (docs {service.url}/docs, log {service.proc.log_path})")
        lines.append(f"Databases {self.var_dir / 'db'}")
        lines.append("Tokens    .venv/bin/skillcert-token --province 33 --role province_official")
        return "\n".join(lines)


async def run_demo(stack: Stack) -> list[tuple[str, WalkResult]]:
    """Walks one batch per province and prints where the public finds each certificate."""
    urls: list[tuple[str, WalkResult]] = []
    async with httpx.AsyncClient(
        base_url=stack.url("query"), timeout=30, headers={PARTNER_HEADER: stack.partner_key()}
    ) as query:
        for province, label in PROVINCES.items():
            clients = [httpx.AsyncClient(base_url=stack.url(s, province), timeout=30) for s in PROVINCIAL_SERVICES]
            try:
                walk = await walk_province(ProvinceClients(province, *clients), stack.token, number=int(time.time()))
            finally:
                for client in clients:
                    await client.aclose()
            number = walk.certificates[0]["number"]

            async def queryable(n: str = number) -> bool:
                return (await query.get(f"/certificates/{n}")).status_code == 200

            await eventually(queryable, what=f"{number} in the public lookup")
            url = f"{stack.url('query')}/certificates/{number}"
            print(
                f"{label}: organization {walk.organization_code}, batch {walk.batch_id}, "
                f"{len(walk.certificates)} certificates. Look one up: {url}"
            )
            urls.append((url, walk))
    return urls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="skillcert-up", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo", action="store_true", help="walk one certificate per province through the flow")
    parser.add_argument("--exit", action="store_true", help="stop after starting (and the demo) instead of waiting")
    args = parser.parse_args(argv)
    stack = Stack()

    def request_stop(*_: object) -> None:
        raise KeyboardInterrupt

    # Set explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        print("starting Kafka, Redis and 9 services (the first run fetches Kafka from Maven Central)...", flush=True)
        stack.start()
        print(stack.describe(), flush=True)
        if args.demo:
            asyncio.run(run_demo(stack))
        if not args.exit:
            print("running; Ctrl-C stops everything", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        # A second Ctrl-C must not leave half the suite running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("stopping...", flush=True)
        stack.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark of bench/ at a quick size, one table.

    .venv/bin/python -m bench                 # quick sizes: a few minutes; checks they run, not for the README
    .venv/bin/python -m bench --size smoke    # the smallest sizes (what tests/bench runs)
    .venv/bin/python -m bench --only query --json

Each benchmark runs in a process of its own (its peak memory is its own, and a stuck one is stopped after
`--limit` seconds), its output kept out of the table (the end of it is shown if it fails), and hands back the
dict of figures its `run` returns. One Kafka broker and one Redis are
started for all of them (each benchmark keeps to a topic root and key prefix of its own); `--own-servers` lets
each start its own, as its full-size command in bench/README.md does. The full sizes are in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any


@dataclass(frozen=True)
class Benchmark:
    name: str  # the module in bench/
    size: str  # what the table shows
    options: dict[str, Any]
    servers: tuple[str, ...] = ("kafka",)  # the shared servers its `run` takes: kafka_bootstrap, redis_url


@dataclass
class Outcome:
    benchmark: Benchmark
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


SIZES: dict[str, list[Benchmark]] = {
    "quick": [
        Benchmark("batch_to_lookup", "1,000 candidates, SQLite", {"candidates": 1000}, ("kafka", "redis")),
        Benchmark(
            "batch_to_lookup",
            "1,000 candidates, PostgreSQL",
            {"candidates": 1000, "database": "postgresql"},
            ("kafka", "redis"),
        ),
        Benchmark("recognition_batch", "1,000 candidates", {"candidates": 1000}),
        Benchmark("certificate_batch", "1,000 certificates, SQLite", {"candidates": 1000}),
        Benchmark(
            "query",
            "1,000 certificates, 2 workers, 16 connections, 1 round of 3 s, lag of 30",
            {
                "certificates": 1000,
                "seconds": 3,
                "rounds": 1,
                "workers": 2,
                "connections": 16,
                "lag_certificates": 30,
                "warm_up": 1,
            },
            ("kafka", "redis"),
        ),
        Benchmark("rebuild", "20,000 certificates of 3 provinces", {"certificates": 20_000}, ("kafka", "redis")),
    ],
    "smoke": [
        Benchmark(
            "batch_to_lookup",
            "10 candidates, SQLite, not settled",
            {"candidates": 10, "settle": False},
            ("kafka", "redis"),
        ),
        Benchmark("recognition_batch", "10 candidates", {"candidates": 10}),
        Benchmark("certificate_batch", "10 certificates, SQLite", {"candidates": 10}),
        Benchmark(
            "query",
            "100 certificates, 1 worker, 4 connections, 1 round of 1 s, lag of 6",
            {
                "certificates": 100,
                "seconds": 1,
                "rounds": 1,
                "workers": 1,
                "connections": 4,
                "lag_certificates": 6,
                "warm_up": 1,
            },
            ("kafka", "redis"),
        ),
        Benchmark("rebuild", "2,000 certificates of 3 provinces", {"certificates": 2_000}, ("kafka", "redis")),
    ],
}


def _mb(value: Any) -> str:
    return f"{value:.0f} MB"


def _s(value: Any) -> str:
    return f"{value:.2f} s"


def _batch_to_lookup(f: dict[str, Any]) -> str:
    peaks: dict[str, float] = f["peak_rss_mb"]
    largest = max(peaks, key=lambda name: peaks[name])
    return (
        f"approve → all found {_s(f['approve_to_all_found_seconds'])} ({f['certificates_per_second']:.0f}/s), "
        f"verified in 32 at {_s(f['verified_other_province_seconds'])}, "
        f"peak RSS {_mb(peaks[largest])} ({largest}; largest process {_mb(f['max_process_rss_mb'])})"
    )


def _recognition_batch(f: dict[str, Any]) -> str:
    return (
        f"upload {_s(f['upload_seconds'])}, submit {_s(f['submit_seconds'])}, "
        f"results {_s(f['record_results_seconds'])}, approve {_s(f['approve_seconds'])}, "
        f"approve → on Kafka {_s(f['approve_to_handed_off_seconds'])}, peak RSS {_mb(f['peak_rss_megabytes'])}"
    )


def _certificate_batch(f: dict[str, Any]) -> str:
    return (
        f"signed {_s(f['signed_and_stored_seconds'])}, "
        f"published {_s(f['all_published_seconds'])} ({f['certificates_per_second']:.0f}/s), "
        f"{f['signatures']} signature(s), peak RSS {_mb(f['peak_rss_megabytes'])}"
    )


def _query(f: dict[str, Any]) -> str:
    bare, lookup, lag = f["bare"], f["lookup"], f["lag_ms"]
    return (
        f"bare {bare['rps']:.0f} req/s p99 {bare['p99_ms']:.1f} ms, "
        f"lookup {lookup['rps']:.0f} req/s p99 {lookup['p99_ms']:.1f} ms ({lookup['errors']:.0f} non-2xx), "
        f"ratio {f['ratio']:.2f}, lag p50 {lag['p50']:.0f} ms p99 {lag['p99']:.0f} ms"
    )


def _rebuild(f: dict[str, Any]) -> str:
    return (
        f"ready in {_s(f['ready_seconds'])} ({f['certificates_per_second']:.0f} certificates/s), "
        f"Redis {f['redis_bytes_per_certificate']:.0f} B per certificate (document {f['document_bytes']:.0f} B), "
        f"projector peak RSS {_mb(f['projector_peak_rss_mb'])}"
    )


KEY_FIGURES: dict[str, Callable[[dict[str, Any]], str]] = {
    "batch_to_lookup": _batch_to_lookup,
    "recognition_batch": _recognition_batch,
    "certificate_batch": _certificate_batch,
    "query": _query,
    "rebuild": _rebuild,
}


def _child(connection: Connection, name: str, options: dict[str, Any], log: str) -> None:
    """Runs one benchmark's `run` and sends back its figures, its output (the services' logs) in `log`; SIGTERM
    unwinds it, so its servers are stopped."""

    def stop(*_: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, stop)
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    try:
        module = __import__(f"bench.{name}", fromlist=["run"])
        connection.send(("ok", module.run(**options)))
    except BaseException as error:  # reported in the table, whatever it is
        connection.send(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=6)}"))
    finally:
        connection.close()


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_one(benchmark: Benchmark, servers: dict[str, str], limit: float, log: Path) -> Outcome:
    """The benchmark in a process of its own (its output in `log`), stopped (SIGTERM, then SIGKILL) after `limit`
    seconds."""
    options = dict(benchmark.options)
    if "kafka" in servers and "kafka" in benchmark.servers:
        options["kafka_bootstrap"] = servers["kafka"]
    if "redis" in servers and "redis" in benchmark.servers:
        options["redis_url"] = servers["redis"]
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    arguments = (sending, benchmark.name, options, str(log))
    process = context.Process(target=_child, args=arguments, name=f"bench-{benchmark.name}")
    started = time.perf_counter()
    process.start()
    sending.close()
    try:
        if not receiving.poll(limit):
            process.terminate()
            process.join(60)
            if process.is_alive():
                process.kill()
            error = f"stopped after {limit:.0f} s; its output ended:\n{_tail(log)}"
            return Outcome(benchmark, time.perf_counter() - started, error=error)
        try:
            status, payload = receiving.recv()
        except EOFError:
            status, payload = "error", "the benchmark's process ended without a result"
    finally:
        process.join(60)
        receiving.close()
    seconds = time.perf_counter() - started
    if status != "ok":
        return Outcome(benchmark, seconds, error=f"{payload}\nits output ended:\n{_tail(log)}")
    return Outcome(benchmark, seconds, figures=payload)


def run_all(
    size: str = "quick",
    *,
    only: list[str] | None = None,
    kafka_bootstrap: str | None = None,
    redis_url: str | None = None,
    own_servers: bool = False,
    limit: float = 600,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Runs the size's benchmarks one after another; the outcomes. Without a broker and Redis given (and unless
    `own_servers`), starts one of each for all of them."""
    from infra.servers import KafkaServer, RedisServer

    benchmarks = [b for b in SIZES[size] if not only or b.name in only]
    servers: dict[str, str] = {}
    started: list[KafkaServer | RedisServer] = []
    with TemporaryDirectory(prefix="bench-servers-") as tmp:
        try:
            if kafka_bootstrap is None and not own_servers:
                kafka = KafkaServer(Path(tmp) / "kafka")
                started.append(kafka)
                kafka.start()
                kafka_bootstrap = kafka.bootstrap
            if redis_url is None and not own_servers:
                redis = RedisServer(Path(tmp) / "redis")
                started.append(redis)
                redis.start()
                redis_url = redis.url
            if kafka_bootstrap is not None:
                servers["kafka"] = kafka_bootstrap
            if redis_url is not None:
                servers["redis"] = redis_url
            outcomes = []
            for number, benchmark in enumerate(benchmarks):
                outcome = run_one(benchmark, servers, limit, Path(tmp) / f"{number}-{benchmark.name}.log")
                if progress is not None:
                    progress(outcome)
                outcomes.append(outcome)
            return outcomes
        finally:
            for server in reversed(started):
                server.stop()


def table(outcomes: list[Outcome]) -> str:
    rows = ["| benchmark | size | wall | key figures |", "| --- | --- | --- | --- |"]
    for outcome in outcomes:
        if outcome.error is not None:
            figures = "FAILED: " + outcome.error.splitlines()[0]
        else:
            figures = KEY_FIGURES[outcome.benchmark.name](outcome.figures)
        rows.append(f"| {outcome.benchmark.name} | {outcome.benchmark.size} | {outcome.seconds:.0f} s | {figures} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--only", action="append", choices=sorted(KEY_FIGURES), help="this benchmark (repeatable)")
    parser.add_argument("--own-servers", action="store_true", help="each benchmark starts its own Kafka and Redis")
    parser.add_argument("--limit", type=float, default=600, help="seconds a benchmark may take before it is stopped")
    parser.add_argument("--json", action="store_true", help="also print each benchmark's figures as a JSON line")
    args = parser.parse_args(argv)

    def progress(outcome: Outcome) -> None:
        state = "failed" if outcome.error else "done"
        print(f"{outcome.benchmark.name} ({outcome.benchmark.size}): {state} in {outcome.seconds:.0f} s", flush=True)
        if outcome.error:
            print(outcome.error, file=sys.stderr, flush=True)
        elif args.json:
            print(json.dumps({"benchmark": outcome.benchmark.name, **outcome.figures}), flush=True)

    outcomes = run_all(args.size, only=args.only, own_servers=args.own_servers, limit=args.limit, progress=progress)
    print()
    print(table(outcomes))
    if any(outcome.error for outcome in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()

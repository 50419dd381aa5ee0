"""A worker of `uvicorn --workers N` ends when its master dies (services/query/workers.py): killed outright, the
master leaves no worker serving on its port or consuming in the read model's groups."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from infra.servers import free_port
from services.query.workers import exit_with_master

REPO = Path(__file__).resolve().parents[2]
PID_DIR = "SKILLCERT_TEST_WORKER_PIDS"


def tiny_app() -> FastAPI:
    """A worker as the query's: `exit_with_master` at start-up, then its pid written where the test looks."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        exit_with_master()
        (Path(os.environ[PID_DIR]) / str(os.getpid())).write_text("started")
        yield

    return FastAPI(lifespan=lifespan)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its new parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def test_the_workers_exit_when_their_master_is_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    args = [sys.executable, "-m", "uvicorn", "--factory", f"{__name__}:tiny_app", "--host", "127.0.0.1"]
    args += ["--port", str(free_port()), "--workers", "2", "--no-access-log"]
    with (tmp_path / "uvicorn.log").open("wb") as log:
        master = subprocess.Popen(args, cwd=REPO, env={**os.environ, PID_DIR: str(pids)}, stdout=log, stderr=log)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2:
            assert time.monotonic() < deadline, (tmp_path / "uvicorn.log").read_text()
            assert master.poll() is None, (tmp_path / "uvicorn.log").read_text()
            time.sleep(0.1)
            workers = [int(p.name) for p in pids.iterdir()]
        assert all(running(pid) for pid in workers)
        os.kill(master.pid, signal.SIGKILL)
        master.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if running(pid)], (tmp_path / "uvicorn.log").read_text()
        assert "is gone: worker" in (tmp_path / "uvicorn.log").read_text()
    finally:
        for pid in [master.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                if running(pid):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            master.wait(timeout=5)

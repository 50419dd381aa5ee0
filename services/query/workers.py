"""A worker of `uvicorn --workers N` ends when its master dies.

Uvicorn's master starts each worker as a `multiprocessing` child (spawned). If the master is killed outright
(SIGKILL, an out-of-memory kill, a supervisor that signals the main PID only), nothing tells the workers: they
would go on serving on the inherited socket and consuming in the read model's groups, and a restart would fail with
"address already in use". A spawned child holds the read end of a pipe whose write end only its parent holds (the
parent sentinel of `multiprocessing`): it becomes readable the moment the parent is gone, whatever killed it. The
worker then shuts down as on SIGTERM (requests in flight finish, the consumers leave their groups), and if that has
not ended it within `HARD_EXIT_SECONDS`, exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading

log = logging.getLogger(__name__)
HARD_EXIT_SECONDS = 30.0


def master_pid() -> int | None:
    """The pid of the process that spawned this one through `multiprocessing` (uvicorn's master), else None."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else None


def exit_with_master() -> None:
    """From start-up on, ends this worker when its master dies. Does nothing in a process that `multiprocessing`
    did not start (a single uvicorn process, a test)."""
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if parent is None or sentinel is None:
        return
    loop = asyncio.get_running_loop()

    def master_gone() -> None:
        loop.remove_reader(sentinel)
        log.warning("uvicorn master %s is gone: worker %s shuts down", parent.pid, os.getpid())
        hard_exit = threading.Timer(HARD_EXIT_SECONDS, os._exit, args=(1,))
        hard_exit.daemon = True
        hard_exit.start()
        os.kill(os.getpid(), signal.SIGTERM)

    loop.add_reader(sentinel, master_gone)

"""The ceiling for bench/query.py: FastAPI and one Redis GET, nothing else (no limits, no tracing, no model).

It gets the services' one process tuning, `gc.freeze()` after start-up (shared/platform/app.py), so the ceiling is
not lowered by garbage collection and the ratio measures only what the lookup does on top of it."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Response
from redis.asyncio import Redis

redis = Redis.from_url(os.environ.get("QUERY_REDIS_URL", "redis://127.0.0.1:6379/0"))
prefix = os.environ.get("QUERY_REDIS_PREFIX", "")


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    gc.freeze()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/bare/{number}")
async def bare(number: str) -> Response:
    raw = await redis.get(f"{prefix}bare:{number}")
    if raw is None:
        raise HTTPException(404)
    return Response(raw, media_type="application/json")

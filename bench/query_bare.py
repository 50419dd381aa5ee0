"""The ceiling for bench/query.py: FastAPI and one Redis GET, nothing else (no limits, no tracing, no model)."""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException, Response
from redis.asyncio import Redis

redis = Redis.from_url(os.environ.get("QUERY_REDIS_URL", "redis://127.0.0.1:6379/0"))
prefix = os.environ.get("QUERY_REDIS_PREFIX", "")
app = FastAPI()


@app.get("/bare/{number}")
async def bare(number: str) -> Response:
    raw = await redis.get(f"{prefix}bare:{number}")
    if raw is None:
        raise HTTPException(404)
    return Response(raw, media_type="application/json")

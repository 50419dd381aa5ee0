"""Request body limits, enforced before a route reads the body (a pure ASGI middleware).

Every route takes at most `DEFAULT_BODY_LIMIT` bytes unless the service declares a larger (or smaller) limit for
its path template (`create_app(body_limits={"/batches/{batch_id}/candidates": 64 * MIB})`). A `Content-Length`
over the limit is answered 413 at once, without reading a byte of the body; a body without one (chunked) is
counted as it streams in and answered 413 as soon as it passes the limit: the route stops reading, its
transaction rolls back, and the rest of the body is never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

MIB = 1024 * 1024
DEFAULT_BODY_LIMIT = 1 * MIB

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised to the route reading a body past its limit; the middleware has answered 413 already."""


def too_large_detail(limit: int) -> str:
    return f"the request body is larger than this route takes ({limit} bytes); nothing was changed"


def _template_pattern(template: str) -> re.Pattern[str]:
    """`/batches/{batch_id}/candidates` -> a pattern matching one path segment per parameter."""
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


class BodyLimit:
    """The ASGI middleware. `limits` maps path templates to bytes; every other path takes `default`."""

    def __init__(
        self, app: ASGIApp, *, default: int = DEFAULT_BODY_LIMIT, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        limits = limits or {}
        self.exact = {path: limit for path, limit in limits.items() if "{" not in path}
        self.patterns = [(_template_pattern(path), limit) for path, limit in limits.items() if "{" in path]

    def limit_for(self, path: str) -> int:
        if (limit := self.exact.get(path)) is not None:
            return limit
        for pattern, limit in self.patterns:
            if pattern.match(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
            elif name == b"transfer-encoding":
                chunked = True
        if declared is None and not chunked and scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)  # no body: nothing to count (the hot path of every lookup)
            return
        limit = self.limit_for(scope["path"])
        if declared is not None and declared > limit:
            await _answer_413(send, limit)
            return
        state = _Progress()

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state.read += len(message.get("body", b""))
                if state.read > limit:
                    if not state.started:
                        state.started = True
                        await _answer_413(send, limit)
                    state.refused = True
                    raise BodyTooLarge(too_large_detail(limit))
            return message

        async def guarded_send(message: Message) -> None:
            if state.refused:
                return  # the 413 went out; what the route answers after it is dropped
            if message["type"] == "http.response.start":
                state.started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not state.refused:
                raise
            # FastAPI turns an error while reading a JSON body into a 400, which guarded_send dropped; a route
            # reading its stream itself lets BodyTooLarge through to here. Either way the 413 was answered.


class _Progress:
    __slots__ = ("read", "refused", "started")

    def __init__(self) -> None:
        self.read = 0
        self.started = False
        self.refused = False


async def _answer_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large_detail(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})

"""`Idempotency-Key`: a client retries a step it sent and gets the first answer, and the step is not done again.

A POST, PUT, PATCH or DELETE of a provincial service that carries `Idempotency-Key` (1-255 visible ASCII
characters) and a valid bearer token is remembered under (the token's role, organization and subject, the
method, the path, the key) in the service's own database (`idempotency_key`) for `IDEMPOTENCY_HOURS`:

- the first request claims the key, runs, and its answer (status, headers, body) is stored before it is sent;
- a retry with the same key and the same request (query string and body) gets the stored answer again, with
  `Idempotent-Replayed: true`, and the route does not run;
- the same key with another request body is 422 (`header.Idempotency-Key`): a key names one request;
- while the first is running, a request with its key is 409 "in progress" (`Retry-After: 1`).

An answer of 500 or more (the step failed or was not taken; "try again") is not kept: the claim is released and
a retry runs the route. A claim whose request never finished (the process was killed) is taken over after
`IDEMPOTENCY_LEASE_SECONDS`; the step may have committed before the kill, and then the retry meets the state it
left (the route's usual 409). Requests without a token, or with one that does not verify (the route answers 401),
are not remembered. The answer is kept in a transaction of its own after the route's: a crash between the two
loses only the memory of the answer, never a change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, LargeBinary, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Column, Field, Session, SQLModel, col

from shared.platform.db import for_changes
from shared.platform.limits import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
MAX_KEPT_BODY = 1024 * 1024  # a bigger answer is sent but not kept (a retry runs again)
PURGE_EVERY_SECONDS = 600.0
_NOT_KEPT_HEADERS = frozenset({b"date", b"server", b"content-length"})


class IdempotencyKey(SQLModel, table=True):
    """One remembered request: claimed (`status_code` None) while it runs, then its answer."""

    __tablename__ = "idempotency_key"

    id: str = Field(primary_key=True, max_length=64, description="sha256 of principal, method, path and key")
    principal: str = Field(max_length=300)
    method: str = Field(max_length=10)
    path: str = Field(max_length=2000)
    key: str = Field(max_length=MAX_KEY_LENGTH)
    fingerprint: str | None = Field(default=None, max_length=64, description="sha256 of query string and body")
    status_code: int | None = None
    headers: str | None = Field(default=None, description="the answer's headers, JSON [[name, value], ...]")
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    started_at: float = Field(index=True, description="epoch seconds the request claimed the key")


def principal_of_bearer(scope: Scope) -> str | None:
    """Who the request acts as: role, organization and subject of its verified bearer token, or None."""
    token = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                token = credentials.strip()
            break
    app = scope.get("app")
    verifier = getattr(getattr(app, "state", None), "token_verifier", None)
    if token is None or verifier is None:
        return None
    try:
        principal = verifier.verify(token)
    except Exception:
        return None  # the route answers 401 itself
    return f"{principal.role.value}|{principal.organization or ''}|{principal.subject}"


@dataclass
class _Answer:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    size: int = 0
    kept: bool = True


class Idempotency:
    """The ASGI middleware; `engine` the service's database, `principal_of` who a request acts as (None: the
    request is not remembered)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        engine: Engine,
        principal_of: Callable[[Scope], str | None] = principal_of_bearer,
        keep_seconds: float = 24 * 3600,
        lease_seconds: float = 600,
    ) -> None:
        self.app = app
        self.engine = for_changes(engine)
        self.principal_of = principal_of
        self.keep_seconds = keep_seconds
        self.lease_seconds = lease_seconds
        self._purged_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING_METHODS:
            await self.app(scope, receive, send)
            return
        key = next((v for n, v in scope["headers"] if n == b"idempotency-key"), None)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not (0 < len(key) <= MAX_KEY_LENGTH) or not all(0x21 <= b <= 0x7E for b in key):
            await _send_json(
                send,
                422,
                {"detail": [{"field": f"header.{HEADER}", "reason": "1 to 255 visible ASCII characters"}]},
            )
            return
        principal = self.principal_of(scope)
        if principal is None:
            await self.app(scope, receive, send)
            return
        method, path, text_key = scope["method"], scope["path"], key.decode("ascii")
        row_id = hashlib.sha256("\n".join([principal, method, path, text_key]).encode()).hexdigest()
        fingerprint = hashlib.sha256(scope.get("query_string", b"") + b"\n")
        claimed, row = await asyncio.to_thread(self._claim, row_id, principal, method, path, text_key)
        if not claimed:
            assert row is not None
            if row.status_code is None:
                await _send_json(
                    send,
                    409,
                    {"detail": f"a request with this {HEADER} is in progress; retry when it has been answered"},
                    [(b"retry-after", b"1")],
                )
                return
            await _drain(receive, fingerprint)
            if fingerprint.hexdigest() != row.fingerprint:
                reason = f"this {HEADER} was used for another request (a different body); a key names one request"
                await _send_json(send, 422, {"detail": [{"field": f"header.{HEADER}", "reason": reason}]})
                return
            await self._replay(send, row)
            return
        await self._run(scope, receive, send, row_id, fingerprint)

    async def _run(self, scope: Scope, receive: Receive, send: Send, row_id: str, fingerprint: Any) -> None:
        answer = _Answer()
        body_done = False

        async def hashing_receive() -> Message:
            nonlocal body_done
            try:
                message = await receive()
            except BaseException:
                body_done = True  # refused (too large): the rest is never read
                raise
            if message["type"] == "http.request":
                fingerprint.update(message.get("body", b""))
                body_done = not message.get("more_body", False)
            return message

        async def keeping_send(message: Message) -> None:
            if not answer.kept:
                await send(message)
                return
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", [])]
                return  # sent with the body, once the answer is kept
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunk = message.get("body", b"")
            answer.body.append(chunk)
            answer.size += len(chunk)
            if answer.size > MAX_KEPT_BODY or answer.status >= 500:
                answer.kept = False  # not kept: send what was held, and the rest as it comes
                await self._flush(send, answer, more_body=message.get("more_body", False))
                return
            if message.get("more_body", False):
                return
            if not body_done:
                await _drain(receive, fingerprint)  # the route answered before reading it all: hash the rest
            await asyncio.to_thread(self._keep, row_id, fingerprint.hexdigest(), answer)
            await self._flush(send, answer, more_body=False)

        try:
            await self.app(scope, hashing_receive, keeping_send)
        except BaseException:
            await asyncio.to_thread(self._release, row_id)
            raise
        if not answer.kept or answer.status == 0:
            await asyncio.to_thread(self._release, row_id)

    async def _flush(self, send: Send, answer: _Answer, *, more_body: bool) -> None:
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": b"".join(answer.body), "more_body": more_body})

    async def _replay(self, send: Send, row: IdempotencyKey) -> None:
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in json.loads(row.headers or "[]")]
        body = row.body or b""
        headers += [(b"content-length", str(len(body)).encode()), (REPLAYED_HEADER.lower().encode(), b"true")]
        await send({"type": "http.response.start", "status": row.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    # --- the table (in a worker thread) -------------------------------------------------------------------

    def _claim(
        self, row_id: str, principal: str, method: str, path: str, key: str
    ) -> tuple[bool, IdempotencyKey | None]:
        """(True, None) when this request now holds the key; (False, the row) when another holds or answered it."""
        now = time.time()
        self._purge(now)
        for _attempt in range(3):
            try:
                return self._try_claim(row_id, principal, method, path, key, now)
            except IntegrityError:
                continue  # claimed at the same moment by another: read what it holds
        raise RuntimeError("the idempotency key could not be claimed")  # pragma: no cover

    def _try_claim(
        self, row_id: str, principal: str, method: str, path: str, key: str, now: float
    ) -> tuple[bool, IdempotencyKey | None]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(IdempotencyKey, row_id)
            if row is None:
                session.add(
                    IdempotencyKey(id=row_id, principal=principal, method=method, path=path, key=key, started_at=now)
                )
                return True, None
            expired = row.started_at < now - self.keep_seconds
            abandoned = row.status_code is None and row.started_at < now - self.lease_seconds
            if not (expired or abandoned):
                return False, row
            if abandoned and not expired:
                log.warning("taking over %s %s with a key whose request never finished", method, path)
            row.started_at, row.status_code, row.fingerprint, row.headers, row.body = now, None, None, None, None
            return True, None

    def _keep(self, row_id: str, fingerprint: str, answer: _Answer) -> None:
        headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in answer.headers if n not in _NOT_KEPT_HEADERS]
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(IdempotencyKey)
                .where(col(IdempotencyKey.id) == row_id)
                .values(
                    fingerprint=fingerprint,
                    status_code=answer.status,
                    headers=json.dumps(headers),
                    body=b"".join(answer.body),
                )
            )

    def _release(self, row_id: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.id) == row_id,
                    col(IdempotencyKey.status_code).is_(None),
                )
            )

    def _purge(self, now: float) -> None:
        if now - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = now
        with Session(self.engine) as session, session.begin():
            session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.started_at) < now - self.keep_seconds))


async def _drain(receive: Receive, fingerprint: Any) -> None:
    """Reads the rest of the request body into the fingerprint (the body limit still applies: it wraps receive)."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        fingerprint.update(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _send_json(send: Send, status: int, content: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(content, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})

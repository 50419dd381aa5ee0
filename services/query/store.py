"""The Redis read model of certificates from every province. ID numbers are kept only as keyed hashes.

Keys, under the deployment's prefix: `cert:<number>` the public view (JSON); `holder:<hmac(name, id)>` the
set of that person's numbers; `revoked:<number>` a revocation (kept apart and merged on read, because
issue and revocation arrive on different topics in either order); `event:<id>` marks an applied event so a
replay changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from typing import Any

from redis.asyncio import Redis

from shared.events import CertificateIssued, CertificateRevoked
from shared.privacy import mask_id_number


def normalize_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().replace(" ", "")


def holder_hash(secret: bytes, name: str, id_number: str) -> str:
    message = f"{normalize_name(name)}|{id_number.strip().upper()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def public_view(certificate: CertificateIssued) -> dict[str, Any]:
    # The credential carries the ID number in clear: it is not part of the public view.
    data = certificate.model_dump(mode="json", exclude={"id_number", "batch_id", "credential"})
    data["id_number_masked"] = mask_id_number(certificate.id_number)
    data["status"] = "valid"
    return data


class CertificateStore:
    def __init__(self, redis: Redis, secret: bytes, prefix: str = ""):
        self.redis = redis
        self.secret = secret
        self.prefix = prefix

    def _cert(self, number: str) -> str:
        return f"{self.prefix}cert:{number}"

    def _holder(self, name: str, id_number: str) -> str:
        return f"{self.prefix}holder:{holder_hash(self.secret, name, id_number)}"

    async def apply_issued(self, event_id: str, certificate: CertificateIssued) -> bool:
        """Stores one issued certificate; False if this event was applied before."""
        marker = f"{self.prefix}event:{event_id}"
        if await self.redis.exists(marker):
            return False
        number = certificate.certificate_number
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._cert(number), json.dumps(public_view(certificate), ensure_ascii=False))
            pipe.sadd(self._holder(certificate.holder_name, certificate.id_number), number)
            pipe.set(marker, 1)
            await pipe.execute()
        return True

    async def apply_revoked(self, event_id: str, revoked: CertificateRevoked) -> bool:
        """Records a revocation of any province; False if this event was applied before."""
        marker = f"{self.prefix}event:{event_id}"
        if await self.redis.exists(marker):
            return False
        revocation = {"revoked_on": revoked.revoked_on.isoformat(), "revocation_reason": revoked.reason}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._revoked(revoked.certificate_number), json.dumps(revocation))
            pipe.set(marker, 1)
            await pipe.execute()
        return True

    def _revoked(self, number: str) -> str:
        return f"{self.prefix}revoked:{number}"

    async def by_number(self, number: str) -> dict[str, Any] | None:
        return next(iter(await self._views([number])), None)

    async def by_holder(self, name: str, id_number: str) -> list[dict[str, Any]]:
        numbers = sorted(n.decode() if isinstance(n, bytes) else n
                         for n in await self.redis.smembers(self._holder(name, id_number)))
        return await self._views(numbers) if numbers else []

    async def _views(self, numbers: list[str]) -> list[dict[str, Any]]:
        """The public views of these numbers, each with its revocation merged in (one round trip)."""
        raws = await self.redis.mget([*map(self._cert, numbers), *map(self._revoked, numbers)])
        views = []
        for raw, revocation in zip(raws[:len(numbers)], raws[len(numbers):], strict=True):
            if raw:
                view = json.loads(raw)
                if revocation:
                    view.update(json.loads(revocation), status="revoked")
                views.append(view)
        return views

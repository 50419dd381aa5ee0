"""Checks the prior certificates candidates claim through the shared query service, whichever province
issued them: the query service holds every province's certificates [DOMAIN 5]."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from shared.kernel.numbering import CertificateNumber, NumberError

from .rules import PriorCertificate


class QueryUnavailable(RuntimeError):
    """The query service did not answer: nothing can be decided, nothing is stored."""


@dataclass(frozen=True)
class Claim:
    candidate_id: str
    name: str
    id_number: str
    certificate_number: str


class PriorCertificates:
    def __init__(self, client: httpx.AsyncClient, *, concurrency: int = 16) -> None:
        self.client = client
        self.concurrency = concurrency

    async def check(self, claims: Iterable[Claim]) -> dict[str, PriorCertificate]:
        """By candidate id. Looks up by name plus ID number, so only the holder's own certificates count."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one(claim: Claim) -> tuple[str, PriorCertificate]:
            async with limit:
                return claim.candidate_id, await self._lookup(claim)

        return dict(await asyncio.gather(*(one(claim) for claim in claims)))

    async def _lookup(self, claim: Claim) -> PriorCertificate:
        number = claim.certificate_number.strip().upper()
        try:
            number = str(CertificateNumber.parse(number))
        except NumberError:
            return PriorCertificate(number, found=False)
        try:
            # In the body (POST /holder-lookups): an ID number goes into no URL, log or trace.
            holder = {"name": claim.name, "id_number": claim.id_number}
            response = await self.client.post("/holder-lookups", json=holder)
            response.raise_for_status()
            held = {view["certificate_number"]: view for view in response.json()["data"]}
            if number not in held:
                exists = await self.client.get(f"/certificates/{number}")
                if exists.status_code not in (200, 404):
                    exists.raise_for_status()
                return PriorCertificate(number, found=exists.status_code == 200)
        except httpx.HTTPError as error:
            raise QueryUnavailable(f"the query service did not answer: {error!r}") from error
        view = held[number]
        return PriorCertificate(
            number,
            found=True,
            held_by_candidate=True,
            level=view["level"],
            occupation_code=view["occupation_code"],
            status=view["status"],
        )

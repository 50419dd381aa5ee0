"""Complaints and reports (投诉举报) [G四(一), L28], forwarded: the public files a complaint and follows it by its
tracking code here, and each is passed on to the supervision service of the province it names, where alone the
complaint lives. The query service keeps nothing of it: not in Redis, not in its logs (a complainant's contact
details travel in the body, which is forwarded as it came and never written anywhere), and it sends supervision
nothing of the caller (no address, no headers) beyond the body.

Supervision answers with its own status code and JSON body. When it cannot be reached, or fails (a 5xx, an answer
that is not JSON), the caller gets 503 and nothing of the failure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import HTTPException, status

log = logging.getLogger(__name__)

# What the public sees of a complaint by its tracking code: supervision's public status, field by field. Anything
# else an answer might carry (a release of supervision that sends more) stays out of the public answer.
STATUS_FIELDS = (
    "tracking_code",
    "about",
    "reference",
    "status",
    "received_on",
    "acknowledged_on",
    "acknowledge_by",
    "handle_by",
    "late",
    "outcome",
    "reply",
    "closed_on",
)


@dataclass(frozen=True)
class Answer:
    """Supervision's answer, as forwarded: its status code, its JSON body and a Retry-After if it set one."""

    status_code: int
    body: Any
    retry_after: str | None = None

    @property
    def content(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False).encode()


@dataclass
class Supervisions:
    """The supervision service of each province that takes complaints through this query service."""

    clients: Mapping[str, httpx.AsyncClient]
    owned: list[httpx.AsyncClient] = field(default_factory=list)

    @classmethod
    def connect(
        cls, urls: Mapping[str, str], *, timeout: float, given: Mapping[str, httpx.AsyncClient] | None = None
    ) -> Supervisions:
        """A client per configured URL; `given` clients (tests: an in-process supervision) replace those."""
        owned = {province: httpx.AsyncClient(base_url=url, timeout=timeout) for province, url in urls.items()}
        owned = {p: c for p, c in owned.items() if not given or p not in given}
        return cls({**owned, **(given or {})}, list(owned.values()))

    async def aclose(self) -> None:
        for client in self.owned:
            await client.aclose()

    def of(self, province: str) -> httpx.AsyncClient:
        client = self.clients.get(province)
        if client is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"province {province} takes no complaints here: no supervision service of it is configured "
                "(该省份未开通网上投诉举报)",
            )
        return client

    async def forward(self, province: str, method: str, path: str, body: bytes | None = None) -> Answer:
        """Sends the request to the province's supervision and returns its answer; 404 for a province without
        one, 503 when it does not answer or fails."""
        client = self.of(province)
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as error:
            # The error's class only: its text may quote the request.
            log.warning("supervision of province %s did not answer (%s)", province, type(error).__name__)
            raise unavailable(province) from None
        if response.status_code >= 500:
            log.warning("supervision of province %s failed with %d", province, response.status_code)
            raise unavailable(province)
        try:
            answer = response.json()
        except ValueError:
            log.warning("supervision of province %s answered %d without JSON", province, response.status_code)
            raise unavailable(province) from None
        return Answer(response.status_code, answer, response.headers.get("Retry-After"))


def unavailable(province: str) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"the supervision service of province {province} is not answering; please try again later "
        "(投诉举报受理服务暂时不可用，请稍后再试)",
    )


def public_status(body: Any) -> Any:
    """A complaint's status as the public sees it: the documented fields only."""
    if not isinstance(body, dict):
        return body
    return {name: body[name] for name in STATUS_FIELDS if name in body}

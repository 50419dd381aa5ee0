import ipaddress
import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.platform.settings import ServiceSettings


class QuerySettings(ServiceSettings):
    """The shared public lookup. `province` names the deployment's home only: it reads every province."""

    model_config = SettingsConfigDict(env_prefix="QUERY_", extra="ignore")

    service_name: str = "query"
    role: Literal["all", "serve", "project"] = Field(
        default="all",
        description="`all`: answers lookups and applies the events to the read model (one process); `serve`: only "
        "answers, from Redis (the HTTP workers of a deployment); `project`: only applies the events (the one "
        "projector process beside them, which answers /healthz and /readyz and nothing else)",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    id_hash_key: SecretStr = Field(description="HMAC key for ID numbers; ID numbers are never stored in clear")
    redis_prefix: str = Field(default="", description="prefix of every Redis key, to share one Redis safely")
    lookup_limits: str = Field(
        default="60/minute;1000/day", description="per client address, every lookup (limits' notation)"
    )
    miss_limits: str = Field(
        default="10 per 10 minutes;30/day",
        description="per client address, lookups that found nothing; past them it waits",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses (or networks, e.g. 172.28.0.0/24) of the reverse proxies in front of this service: "
        "only a request from one of them has its client address taken from X-Forwarded-For (the right-most address "
        "no trusted proxy wrote); by default none, and every client is its peer address. Run uvicorn with "
        "--no-proxy-headers so it does not rewrite the peer address itself",
    )
    partner_keys: list[SecretStr] = Field(
        default_factory=list, description="keys of partner systems (recognition services) that are not limited"
    )
    max_upload_bytes: int = Field(default=256 * 1024, description="largest electronic certificate to verify")
    supervision_urls: dict[str, str] = Field(
        default_factory=dict,
        description="province -> base URL of its supervision service, where complaints (投诉举报) are forwarded, "
        'e.g. {"33": "http://127.0.0.1:8334"}; a province not named takes no complaints here',
    )
    supervision_timeout_seconds: float = Field(
        default=10, gt=0, description="how long a forwarded complaint waits for its province's supervision"
    )
    max_complaint_bytes: int = Field(
        default=64 * 1024, description="largest complaint body forwarded (its text is at most 4,000 characters)"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            if proxy.strip() == "*":
                raise ValueError("'*' would let every client name its own address: name the proxies' addresses")
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError as error:
                raise ValueError(f"{proxy!r} is not an IP address or network: {error}") from error
        return [proxy.strip() for proxy in proxies]

    @field_validator("supervision_urls")
    @classmethod
    def _provinces_are_two_digits(cls, urls: dict[str, str]) -> dict[str, str]:
        for province in urls:
            if not re.fullmatch(r"\d{2}", province):
                raise ValueError(f"{province!r}: provinces are named by their two-digit GB/T 2260 code, e.g. 33")
        return urls

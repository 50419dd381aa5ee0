from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.platform.settings import ServiceSettings


class QuerySettings(ServiceSettings):
    """The shared public lookup. `province` names the deployment's home only: it reads every province."""

    model_config = SettingsConfigDict(env_prefix="QUERY_", extra="ignore")

    service_name: str = "query"
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
    partner_keys: list[SecretStr] = Field(
        default_factory=list, description="keys of partner systems (recognition services) that are not limited"
    )
    max_upload_bytes: int = Field(default=256 * 1024, description="largest electronic certificate to verify")

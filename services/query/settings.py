from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class QuerySettings(ServiceSettings):
    """The shared public lookup. `province` names the deployment's home only: it reads every province."""

    model_config = SettingsConfigDict(env_prefix="QUERY_", extra="ignore")

    service_name: str = "query"
    redis_url: str = "redis://127.0.0.1:6379/0"
    id_hash_key: SecretStr = Field(description="HMAC key for ID numbers; ID numbers are never stored in clear")
    redis_prefix: str = Field(default="", description="prefix of every Redis key, to share one Redis safely")
    consumer_group: str = Field(
        default="skillcert-query", description="replicas sharing one Redis share the group; a new Redis, a new group"
    )

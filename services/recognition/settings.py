from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.platform.settings import ServiceSettings


class RecognitionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECOGNITION_", extra="ignore")

    service_name: str = "recognition"
    approved_event_part_size: int = 500
    query_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the shared query service, to check prior certificates from any province",
    )
    query_timeout_seconds: float = 10.0
    query_partner_key: SecretStr | None = Field(
        default=None, description="the query service's partner key: a batch's checks are not rate limited"
    )

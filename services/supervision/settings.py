from pydantic_settings import SettingsConfigDict

from shared.platform.settings import ServiceSettings


class SupervisionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", extra="ignore")

    service_name: str = "supervision"
    deadline_check_seconds: float = 3600.0

from pydantic_settings import SettingsConfigDict

from shared.platform.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    service_name: str = "registry"
    expiry_check_seconds: float = 3600.0

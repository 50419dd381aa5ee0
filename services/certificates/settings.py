from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class CertificatesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CERTIFICATES_", extra="ignore")

    service_name: str = "certificates"

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.platform.settings import ServiceSettings


class CertificatesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CERTIFICATES_", extra="ignore")

    service_name: str = "certificates"
    signing_keys_dir: Path | None = Field(
        default=None,
        description="where the province's certificate signing keys are kept (writable, backed up); empty: KEYS_DIR",
    )

    @property
    def signing_keys_path(self) -> Path:
        return self.signing_keys_dir or self.keys_dir

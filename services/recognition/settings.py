from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RecognitionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECOGNITION_", extra="ignore")

    service_name: str = "recognition"
    approved_event_part_size: int = 500

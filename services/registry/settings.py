from functools import cached_property
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.policy import POLICIES_DIR, Policy, policy_for
from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    service_name: str = "registry"
    policies_dir: Path = POLICIES_DIR
    expiry_check_seconds: float = 3600.0

    @cached_property
    def policy(self) -> Policy:
        """The province's policy file, validated; a missing or invalid policy stops the service at start."""
        return policy_for(self.province, self.policies_dir)

"""Settings common to every service. Each service subclasses `ServiceSettings` once, with its env prefix."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.kernel.policy import POLICIES_DIR, Policy, policy_for

REPO_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = REPO_ROOT / "var"


class ServiceSettings(BaseSettings):
    """Read from the environment with the service's prefix, e.g. `REGISTRY_PROVINCE=33`."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = Field(default="service", description="set by each subclass")
    province: str = Field(default="33", description="GB/T 2260 two-digit province code this instance serves")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite under var/")
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_root: str = Field(
        default="skillcert",
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="first segment of every topic; a separate root isolates an environment on a shared cluster",
    )
    keys_dir: Path = VAR_DIR / "keys"
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="public query site, for links")
    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint; None keeps traces local")
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="share of HTTP requests traced that carry no caller's trace context (a "
        "caller's trace is always continued); the public query traces a small share, since tracing costs more "
        "than a lookup",
    )
    topic_partitions: int = Field(default=3, ge=1, description="partitions of the topics this service creates")
    topic_replication: int = Field(default=1, ge=1, description="replication factor of the topics it creates")
    outbox_poll_seconds: float = 0.5
    stop_step_seconds: float = Field(
        default=8,
        gt=0,
        description="at shutdown, the longest wait for each part: the outbox relay, the Kafka broker, each of the "
        "service's own parts; past it the part is cancelled and the rest still stops",
    )
    topic_refresh_ms: int = Field(
        default=5000,
        ge=100,
        description="how soon a consumer of every province's topics (by pattern) picks up a new province's topic",
    )
    consumer_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="tries of an event whose failure is its own (not an outage) before it is dead-lettered",
    )
    consumer_first_pause_seconds: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="pause before an event that failed is tried again; it doubles with each try, to 30 s at most",
    )
    run_migrations: bool = True
    policies_dir: Path = Field(default=POLICIES_DIR, description="where <province>-<name>.toml policy files are")
    adjustable_clock: bool = Field(
        default=False,
        description="training and demo environments only: a province official's POST /clock moves "
        "the province's date on, for every one of its services that shares `clock_file`",
    )
    token_max_hours: float = Field(
        default=12,
        gt=0,
        description="the longest a bearer token may live (exp - iat); a longer-lived token is refused (401)",
    )
    idempotency_hours: float = Field(
        default=24,
        gt=0,
        description="how long a request's Idempotency-Key and its answer are kept (a retry within it gets the answer)",
    )
    clock_file: Path | None = Field(
        default=None,
        description="where an adjustable clock keeps the province's offset in days; the province's "
        "services of one stack share it. Default var/clock/<province>.days",
    )

    @cached_property
    def policy(self) -> Policy:
        """The province's policy file, validated; a missing or invalid policy stops the service at start."""
        return policy_for(self.province, self.policies_dir)

    @field_validator("province")
    @classmethod
    def _province_is_two_digits(cls, value: str) -> str:
        if len(value) != 2 or not value.isdigit():
            raise ValueError("province must be the two-digit GB/T 2260 code, e.g. 33")
        return value

    @property
    def clock_offset_file(self) -> Path | None:
        """None: the real date, which nothing can move."""
        if not self.adjustable_clock:
            return None
        return self.clock_file or VAR_DIR / "clock" / f"{self.province}.days"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{VAR_DIR / f'{self.province}-{self.service_name}.db'}"

    @property
    def client_id(self) -> str:
        return f"skillcert-{self.province}-{self.service_name}"

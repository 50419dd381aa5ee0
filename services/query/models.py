"""The public lookup's documents. A certificate is kept in Redis as its `CertificateView` JSON, validated
when it is written (its revocation merged in), so a lookup sends the stored bytes as they are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Check(BaseModel):
    name: str = Field(description="integrity, signature, organization or status")
    passed: bool | None = Field(description="None: could not be checked (yet)")
    detail: str


class Verification(BaseModel):
    verified: bool | None = Field(
        description="True when every check passed; False when one failed; None when one could not be checked yet"
    )
    checks: list[Check]


class CertificateView(BaseModel):
    certificate_number: str
    holder_name: str
    id_type: str
    id_number_masked: str
    occupation_code: str
    occupation_name: str
    work_type: str
    level: int
    level_title: str
    organization_code: str = Field(description="the issuing organization's filing code")
    organization_name: str
    province: str
    issued_on: str
    status: str = Field(description="valid, or revoked")
    revoked_on: str | None = None
    revocation_reason: str | None = Field(default=None, description="fraud or error")
    verification: Verification


class LookupResult(BaseModel):
    data: list[CertificateView]
    count: int


class Page(BaseModel):
    data: list[dict[str, Any]]
    count: int = Field(description="matches in all, of which `data` is one page")


def summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The `Verification` of these checks: False if one failed, True if all passed, None otherwise."""
    passed = [check["passed"] for check in checks]
    verified = False if False in passed else (True if passed and all(passed) else None)
    return {"verified": verified, "checks": checks}

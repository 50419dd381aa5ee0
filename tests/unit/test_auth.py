"""Tokens signed with the province's Ed25519 key; roles enforced per endpoint."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from shared.platform.auth import Principal, Role, TokenVerifier, ensure_dev_keys, mint_token, require_role


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    for province in ("33", "32"):
        ensure_dev_keys(tmp_path, province)
    return tmp_path


def test_valid_token_names_role_and_organization(keys: Path) -> None:
    token = mint_token(keys, province="33", role=Role.ORG_OPERATOR, subject="op1", organization="S000033000001")
    principal = TokenVerifier.load(keys, "33").verify(token)
    assert principal == Principal("op1", Role.ORG_OPERATOR, "33", "S000033000001", region="330000")


@pytest.mark.parametrize("case", ["expired", "tampered"])
def test_bad_tokens_are_401(keys: Path, case: str) -> None:
    lifetime = timedelta(seconds=-1) if case == "expired" else timedelta(hours=1)
    token = mint_token(keys, province="33", role=Role.PROVINCE_OFFICIAL, subject="x", lifetime=lifetime)
    if case == "tampered":
        header, claims, signature = token.split(".")
        token = ".".join([header, claims[:-2] + ("AA" if claims[-2:] != "AA" else "BB"), signature])
    with pytest.raises(HTTPException) as error:
        TokenVerifier.load(keys, "33").verify(token)
    assert error.value.status_code == 401


def test_tokens_carry_the_region_their_holder_acts_for(keys: Path) -> None:
    verifier = TokenVerifier.load(keys, "33")
    city = verifier.verify(mint_token(keys, province="33", role=Role.CITY_OFFICIAL, subject="c", region="330100"))
    assert (city.region, city.acts_for_province) == ("330100", False)
    county = verifier.verify(mint_token(keys, province="33", role=Role.COUNTY_OFFICIAL, subject="x", region="330106"))
    assert county.region == "330106"
    official = verifier.verify(mint_token(keys, province="33", role=Role.PROVINCE_OFFICIAL, subject="p"))
    assert (official.region, official.acts_for_province) == ("330000", True)
    centre = verifier.verify(
        mint_token(keys, province="33", role=Role.TESTING_DEPARTMENT, subject="t", region="330200")
    )
    assert centre.region == "330200"


@pytest.mark.parametrize(
    ("role", "region", "reason"),
    [
        (Role.CITY_OFFICIAL, None, "must name its region"),
        (Role.CITY_OFFICIAL, "330106", "acts for a city"),
        (Role.COUNTY_OFFICIAL, "330100", "acts for a county"),
        (Role.CITY_OFFICIAL, "320100", "not a GB/T 2260 division of province 33"),
        (Role.CITY_OFFICIAL, "339900", "not a GB/T 2260 division of province 33"),
    ],
)
def test_a_local_official_names_a_division_of_its_own_level_in_the_province(
    keys: Path, role: Role, region: str | None, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        mint_token(keys, province="33", role=role, subject="c", region=region)


def test_a_city_token_without_its_region_is_refused(keys: Path) -> None:
    """A token minted elsewhere (the province's identity provider) that names no region gets no jurisdiction."""
    import jwt
    from cryptography.hazmat.primitives import serialization

    from shared.platform.auth import private_key_path

    key = serialization.load_pem_private_key(private_key_path(keys, "33").read_bytes(), password=None)
    now = int(time.time())
    claims = {"iss": "skillcert-33", "sub": "c", "role": "city_official", "province": "33", "iat": now}
    token = jwt.encode({**claims, "exp": now + 3600}, key, algorithm="EdDSA")  # type: ignore[arg-type]
    with pytest.raises(HTTPException) as error:
        TokenVerifier.load(keys, "33").verify(token)
    assert error.value.status_code == 401 and "region" in str(error.value.detail)


def signed(keys: Path, signer: str, **claims: Any) -> str:
    """A token as another identity provider might sign it with `signer`'s key: 33's claims unless changed."""
    import jwt
    from cryptography.hazmat.primitives import serialization

    from shared.platform.auth import private_key_path

    key = serialization.load_pem_private_key(private_key_path(keys, signer).read_bytes(), password=None)
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": "skillcert-33",
        "sub": "s",
        "role": "province_official",
        "province": "33",
        "region": "330000",
        "iat": now,
        "exp": now + 3600,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, key, algorithm="EdDSA")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("signer", "claims", "status", "reason"),
    [
        ("33", {"role": "org_operator"}, 401, "must carry its organization"),
        ("33", {"role": "org_operator", "org": ""}, 401, "must carry its organization"),
        ("33", {"province": None}, 401, "province"),
        ("33", {"iat": None}, 401, "iat"),
        ("33", {"iat": int(time.time()), "exp": int(time.time()) + 13 * 3600}, 401, "longer than the 12 hours"),
        ("33", {"province": "32"}, 403, "a token of province 32: this service is province 33's"),
        ("32", {"iss": "skillcert-32", "province": "32", "region": "320000"}, 403, "a token of province 32"),
        ("33", {"iss": "skillcert-32", "province": "32"}, 403, "a token of province 32"),
        ("32", {}, 401, "Signature verification failed"),  # says 33, signed by another key: a forgery
    ],
)
def test_the_verifier_enforces_each_claim(
    keys: Path, signer: str, claims: dict[str, Any], status: int, reason: str
) -> None:
    with pytest.raises(HTTPException) as error:
        TokenVerifier.load(keys, "33").verify(signed(keys, signer, **claims))
    assert error.value.status_code == status and reason in str(error.value.detail), error.value.detail


def test_a_token_of_another_province_is_403_and_the_lifetime_is_the_service_s_setting(keys: Path) -> None:
    other = mint_token(keys, province="32", role=Role.PROVINCE_OFFICIAL, subject="p")
    with pytest.raises(HTTPException) as error:
        TokenVerifier.load(keys, "33").verify(other)
    assert error.value.status_code == 403 and "present a token of province 33" in str(error.value.detail)
    long_lived = mint_token(keys, province="33", role=Role.PROVINCE_OFFICIAL, subject="p", lifetime=timedelta(hours=20))
    with pytest.raises(HTTPException) as error:
        TokenVerifier.load(keys, "33").verify(long_lived)
    assert error.value.status_code == 401
    assert TokenVerifier.load(keys, "33", max_lifetime=timedelta(hours=24)).verify(long_lived).subject == "p"
    operator = mint_token(keys, province="33", role=Role.ORG_OPERATOR, subject="o", organization="S000033000001")
    assert TokenVerifier.load(keys, "33").verify(operator).organization == "S000033000001"


def test_operator_token_must_name_its_organization(keys: Path) -> None:
    with pytest.raises(ValueError, match="organization"):
        mint_token(keys, province="33", role=Role.ORG_OPERATOR, subject="op")


async def test_roles_on_an_endpoint(keys: Path) -> None:
    app = FastAPI()
    app.state.token_verifier = TokenVerifier.load(keys, "33")

    @app.post("/guarded")
    def guarded(principal: Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]) -> dict[str, str]:
        return {"subject": principal.subject}

    def bearer(role: Role) -> dict[str, str]:
        token = mint_token(keys, province="33", role=role, subject="s", organization="S000033000001")
        return {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        missing = await client.post("/guarded")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert (await client.post("/guarded", headers=bearer(Role.INSPECTOR))).status_code == 403
        assert (await client.post("/guarded", headers=bearer(Role.PROVINCE_OFFICIAL))).json() == {"subject": "s"}

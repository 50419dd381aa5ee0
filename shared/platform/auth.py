"""Bearer tokens: JWTs signed with the province's Ed25519 key, carrying a role and, for an operator, an org.

Services hold only the province's public key; the private key signs tokens (in development through
`skillcert-token`, in production through the province's identity provider). A token carries `iss`
(`skillcert-<province>`), `sub`, `role`, `province`, `region`, `iat` and `exp`; an org_operator's also `org`, a
city or county official's a `region` of its own level. No token, a bad signature, a claim missing or wrong, an
expired token or one whose lifetime (`exp - iat`) is over the service's maximum (`TOKEN_MAX_HOURS`, 12 by
default): 401. A token of another province (its `province` claim, whichever key signed it) or a role not allowed
on the endpoint: 403.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.kernel.regions import RegionLevel, province_of, province_region, region_exists, region_level

ALGORITHM = "EdDSA"
# A partner system (a recognition service checking its candidates) shows this header to the public query.
PARTNER_HEADER = "X-Partner-Key"


class Role(StrEnum):
    PROVINCE_OFFICIAL = "province_official"
    CITY_OFFICIAL = "city_official"
    COUNTY_OFFICIAL = "county_official"  # 县(市、区) 人社部门: manages the county's organizations [Z五(一)]
    ORG_OPERATOR = "org_operator"
    INSPECTOR = "inspector"
    TESTING_DEPARTMENT = "testing_department"  # 职业技能鉴定部门: approves batch plans, reviews results [L20, L22]
    EXPERT = "expert"  # a member of the expert pool (三支队伍): the token's subject is their pool id [Z四(四)]


# The longest a token may live (exp - iat) unless the service sets another (`TOKEN_MAX_HOURS`).
MAX_LIFETIME = timedelta(hours=12)
# Roles that act for one city or county: their tokens must name it.
LOCAL_ROLES = frozenset({Role.CITY_OFFICIAL, Role.COUNTY_OFFICIAL})


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    province: str
    organization: str | None = None
    # GB/T 2260 code of the official's (or testing department's) division: 330000 the province, 330100 杭州市.
    region: str = ""

    @property
    def acts_for_province(self) -> bool:
        return self.region == province_region(self.province)


@dataclass(frozen=True)
class Actor:
    """Who did something, for an audit trail: a person by their token, or a service acting on an event."""

    subject: str
    role: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.subject, principal.role.value)


def private_key_path(keys_dir: Path, province: str) -> Path:
    return keys_dir / f"{province}.ed25519.pem"


def public_key_path(keys_dir: Path, province: str) -> Path:
    return keys_dir / f"{province}.ed25519.pub.pem"


def ensure_dev_keys(keys_dir: Path, province: str) -> None:
    """Creates a province key pair for development if there is none. Production keys are provisioned."""
    private_path = private_key_path(keys_dir, province)
    if private_path.exists():
        return
    keys_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public_key_path(keys_dir, province).write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def issuer(province: str) -> str:
    return f"skillcert-{province}"


def mint_token(
    keys_dir: Path,
    *,
    province: str,
    role: Role,
    subject: str,
    organization: str | None = None,
    region: str | None = None,
    lifetime: timedelta = timedelta(hours=8),
) -> str:
    """`region` is the division the holder acts for; a city or county official must name theirs, everyone else
    acts for the province unless a region is given (a city's testing department)."""
    if role is Role.ORG_OPERATOR and not organization:
        raise ValueError("an org_operator token must name its organization (filing code)")
    region = region or (None if role in LOCAL_ROLES else province_region(province))
    if region is None:
        raise ValueError(f"a {role.value} token must name its region (GB/T 2260 code of the city or county)")
    _check_region(region, province, role)
    key = serialization.load_pem_private_key(private_key_path(keys_dir, province).read_bytes(), password=None)
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": issuer(province),
        "sub": subject,
        "role": role.value,
        "province": province,
        "region": region,
        "iat": now,
        "exp": now + lifetime,
    }
    if organization:
        claims["org"] = organization
    return jwt.encode(claims, key, algorithm=ALGORITHM)  # type: ignore[arg-type]


class TokenVerifier:
    def __init__(self, public_key: Ed25519PublicKey, province: str, *, max_lifetime: timedelta = MAX_LIFETIME):
        self.public_key = public_key
        self.province = province
        self.max_lifetime = max_lifetime

    @classmethod
    def load(cls, keys_dir: Path, province: str, *, max_lifetime: timedelta = MAX_LIFETIME) -> TokenVerifier:
        path = public_key_path(keys_dir, province)
        if not path.exists():
            raise FileNotFoundError(f"province {province} public key not found at {path}")
        key = serialization.load_pem_public_key(path.read_bytes())
        assert isinstance(key, Ed25519PublicKey)
        return cls(key, province, max_lifetime=max_lifetime)

    def verify(self, token: str) -> Principal:
        """The token's principal; 401 unless it is signed with this province's key and carries every claim its
        role needs, within the maximum lifetime; 403 if it is a token of another province."""
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                issuer=issuer(self.province),
                options={"require": ["exp", "iat", "iss", "sub", "role", "province"]},
            )
        except (jwt.InvalidSignatureError, jwt.InvalidIssuerError) as error:
            self._refuse_other_province(token)
            raise _unauthorized(error) from error
        except jwt.PyJWTError as error:
            raise _unauthorized(error) from error
        if claims["province"] != self.province:
            raise _other_province(str(claims["province"]), self.province)
        try:
            role = Role(claims["role"])
            lifetime = timedelta(seconds=float(claims["exp"]) - float(claims["iat"]))
            if lifetime > self.max_lifetime:
                hours = self.max_lifetime.total_seconds() / 3600
                raise ValueError(f"the token lives {lifetime}, longer than the {hours:g} hours a token may live")
            organization = claims.get("org")
            if role is Role.ORG_OPERATOR and not (isinstance(organization, str) and organization):
                raise ValueError("an org_operator token must carry its organization (`org`, the filing code)")
            region = claims.get("region") or (None if role in LOCAL_ROLES else province_region(self.province))
            if region is None:
                raise ValueError(f"a {role.value} token must carry its region")
            _check_region(region, self.province, role)
        except (TypeError, ValueError) as error:
            raise _unauthorized(error) from error
        return Principal(
            subject=claims["sub"], role=role, province=self.province, organization=organization, region=region
        )

    def _refuse_other_province(self, token: str) -> None:
        """403 for a token that says it is of another province (signed by that province's key, which this service
        does not hold): it is not a bad token but one for another province's services."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return
        province = claims.get("province") if isinstance(claims, dict) else None
        if isinstance(province, str) and province and province != self.province:
            raise _other_province(province, self.province)


def _unauthorized(error: Exception) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, f"invalid token: {error}", headers={"WWW-Authenticate": "Bearer"}
    )


def _other_province(province: str, own: str) -> HTTPException:
    return HTTPException(
        status.HTTP_403_FORBIDDEN,
        f"a token of province {province[:8]}: this service is province {own}'s; present a token of province {own}",
    )


def _check_region(region: str, province: str, role: Role) -> None:
    if not region_exists(region) or province_of(region) != province:
        raise ValueError(f"region {region} is not a GB/T 2260 division of province {province}")
    expected = {Role.CITY_OFFICIAL: RegionLevel.CITY, Role.COUNTY_OFFICIAL: RegionLevel.COUNTY}.get(role)
    if expected is not None and region_level(region) is not expected:
        raise ValueError(f"a {role.value} acts for a {expected.value}; {region} is a {region_level(region).value}")


_bearer = HTTPBearer(auto_error=False)


def require_role(*roles: Role) -> Any:
    """A dependency that yields the caller's Principal if its role is one of `roles`."""

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = verifier.verify(credentials.credentials)
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role.value} may not do this; allowed: {', '.join(r.value for r in roles)}",
            )
        return principal

    return Depends(dependency)


def main(argv: list[str] | None = None) -> None:
    """`skillcert-token`: mints a development token signed with a province's key."""
    from shared.platform.settings import VAR_DIR

    parser = argparse.ArgumentParser(prog="skillcert-token", description=main.__doc__)
    parser.add_argument("--province", required=True, help="two-digit province code, e.g. 33")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--org", help="filing code of the organization (org_operator only)")
    parser.add_argument("--region", help="GB/T 2260 code the holder acts for (required of city and county officials)")
    parser.add_argument("--subject", default="dev-user")
    parser.add_argument(
        "--hours", type=float, default=8, help="lifetime; services refuse more than TOKEN_MAX_HOURS (12 by default)"
    )
    parser.add_argument("--keys-dir", type=Path, default=VAR_DIR / "keys")
    args = parser.parse_args(argv)
    ensure_dev_keys(args.keys_dir, args.province)
    try:
        token = mint_token(
            args.keys_dir,
            province=args.province,
            role=Role(args.role),
            subject=args.subject,
            organization=args.org,
            region=args.region,
            lifetime=timedelta(hours=args.hours),
        )
    except ValueError as error:
        parser.error(str(error))
    sys.stdout.write(token + "\n")


if __name__ == "__main__":
    main()

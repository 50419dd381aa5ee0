"""Registry operations: plain keyword-only functions over a session."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from shared.events import ORGANIZATION_FILED, OrganizationFiled, ScopeItem
from shared.numbering import MAX_SEQUENCE, FilingCode
from shared.outbox import record_event
from shared.sequences import next_value

from .models import Organization, OrganizationCreate


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def file_organization(
    *, session: Session, organization_in: OrganizationCreate, province: str, filed_by: str,
    validity_years: int, today: date | None = None,
) -> Organization:
    """Files an organization, assigns its filing code and records `organization filed`, in one transaction."""
    filed_on = today or date.today()
    sequence = next_value(session, f"filing:{province}", maximum=MAX_SEQUENCE)
    code = FilingCode(organization_in.org_type, organization_in.national_code, province, sequence)
    organization = Organization.model_validate(
        organization_in,
        update={
            "filing_code": str(code),
            "province": province,
            "sequence": sequence,
            "scope": [item.model_dump() for item in organization_in.scope],
            "filed_on": filed_on,
            "valid_until": add_years(filed_on, validity_years),
            "filed_by": filed_by,
        },
    )
    session.add(organization)
    payload = OrganizationFiled(
        filing_code=organization.filing_code, name=organization.name, credit_code=organization.credit_code,
        org_type=organization.org_type, province=province, city=organization.city, address=organization.address,
        scope=organization_in.scope, filed_on=organization.filed_on, valid_until=organization.valid_until,
    )
    event = ORGANIZATION_FILED.make(province=province, subject=organization.filing_code, payload=payload)
    record_event(session, ORGANIZATION_FILED, event, key=organization.filing_code)
    session.commit()
    session.refresh(organization)
    return organization


def get_organization(*, session: Session, filing_code: str) -> Organization | None:
    return session.exec(select(Organization).where(Organization.filing_code == filing_code)).first()


def list_organizations(
    *, session: Session, occupation_code: str | None = None, name: str | None = None, skip: int = 0, limit: int = 50
) -> tuple[list[Organization], int]:
    statement = select(Organization)
    if name:
        statement = statement.where(col(Organization.name).contains(name))
    organizations = list(session.exec(statement.order_by(col(Organization.filing_code))))
    if occupation_code:
        organizations = [
            o for o in organizations if any(item["occupation_code"] == occupation_code for item in o.scope)
        ]
    return organizations[skip : skip + limit], len(organizations)


def scope_items(organization: Organization) -> list[ScopeItem]:
    return [ScopeItem.model_validate(item) for item in organization.scope]
